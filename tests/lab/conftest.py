"""Fixtures for the lab's own tests: labs with short timings, verified HTTPS sessions, and the
simulated bootstrapper run as a real process."""

from __future__ import annotations

import os
import subprocess
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
