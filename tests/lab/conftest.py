"""Fixtures for the lab's own tests: labs with short timings, verified HTTPS sessions, and the
simulated bootstrapper run as a real process."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from dtrlab import Lab, LabConfig

FAST = {"job_time": 0.05, "swap_time": 0.2}
BOOTSTRAPPER_TIMEOUT_S = 60


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Start labs with fast jobs and swaps (overridable); every one is closed afterwards."""
    labs: list[Lab] = []

    def factory(**overrides: Any) -> Lab:
        lab = Lab(LabConfig(**{**FAST, **overrides})).start()
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    """A healthy three-replica lab with the demo repositories."""
    return make_lab()


def session_for(lab: Lab, auth: tuple[str, str] | None = None) -> requests.Session:
    """A requests session that verifies the lab CA (ignoring REQUESTS_CA_BUNDLE) as the admin."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(lab.ca_path)
    session.auth = auth or (lab.credentials.username, lab.credentials.password)
    return session


@pytest.fixture
def api(lab: Lab) -> Iterator[requests.Session]:
    """An authenticated session for `lab`."""
    with session_for(lab) as session:
        yield session


def bootstrapper_cmd(lab: Lab, target: str, *extra: str, ca: bool = True) -> list[str]:
    """The documented upgrade command line for `lab` (password not included)."""
    argv = [*lab.bootstrapper_argv(target), "upgrade", "--ucp-url", lab.ucp_url]
    argv += ["--ucp-username", lab.credentials.ucp_username]
    if ca:
        argv += ["--ucp-ca", lab.ca_pem]
    return argv + list(extra)


def bootstrapper_env(lab: Lab, password: str | None = None) -> dict[str, str]:
    """This process's environment plus UCP_PASSWORD (the way the harness passes it)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("UCP_PASSWORD", "UCP_URL", "UCP_USERNAME")
    }
    env["UCP_PASSWORD"] = lab.credentials.ucp_password if password is None else password
    return env


def run_bootstrapper(
    lab: Lab, target: str, *extra: str, ca: bool = True, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one upgrade attempt to completion (bounded) and capture its log."""
    return subprocess.run(
        bootstrapper_cmd(lab, target, *extra, ca=ca),
        env=bootstrapper_env(lab, password),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOOTSTRAPPER_TIMEOUT_S,
        check=False,
    )


class LineReader:
    """Reads a child process's merged output line by line, every read bounded by a deadline
    (select on the pipe), so a silent child fails the test instead of hanging it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process = process
        self._fd = process.stdout.fileno()
        self._pending = b""
        self.lines: list[str] = []

    def until(
        self, predicate: Callable[[str], bool], timeout: float = BOOTSTRAPPER_TIMEOUT_S
    ) -> str:
        """Read lines until one satisfies `predicate`; return it (AssertionError otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._pending:
                raw, self._pending = self._pending.split(b"\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if predicate(line):
                    return line
            remaining = deadline - time.monotonic()
            ready = select.select([self._fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
            chunk = os.read(self._fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(
                    f"no expected line within {timeout} s; output so far: {self.lines}"
                )
            self._pending += chunk

    def rest(self, timeout: float = BOOTSTRAPPER_TIMEOUT_S) -> str:
        """Wait for the process to end and return everything not yet read."""
        out, _ = self.process.communicate(timeout=timeout)
        text = (self._pending + out).decode(errors="replace")
        self._pending = b""
        self.lines += text.splitlines()
        return text

    def close(self) -> None:
        """Kill the process if it is still running and reap it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
