"""Start, find and stop the lab's `dockerd` and distribution registry on this machine.

Both run as background processes of their own session, log to files under the state
directory and are found again by their pid files, so `up` is idempotent: what already answers
is left alone. Every wait is bounded; a process that dies while starting is reported with the
end of its log.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dtrlab.engine.settings import EngineError, EngineSettings

EXEC_ROOT = Path("/run/dtrlab-docker")
DOCKERD_PIDFILE = Path("/run/dtrlab-docker.pid")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.25
LOG_TAIL_LINES = 15
# Extra dockerd flags, e.g. "--bridge=none --iptables=false" where another engine owns docker0
# or iptables is unavailable: the lab needs no bridge (replicas run with no network, the
# bootstrapper with the host's, image builds run no commands).
DOCKERD_FLAGS_ENV = "DTRLAB_DOCKERD_FLAGS"


@dataclass(frozen=True)
class Started:
    """What `ensure_*` found or did: `pid` is None when the service was already answering."""

    name: str
    address: str
    pid: int | None
    seconds: float

    def describe(self) -> str:
        """One line for the terminal."""
        if self.pid is None:
            return f"{self.name} already answering at {self.address}"
        return f"{self.name} started at {self.address} (pid {self.pid}) in {self.seconds:.1f} s"


def engine_version(docker_host: str, timeout_s: float = 5.0) -> str | None:
    """The engine's server version, or None when nothing answers at `docker_host`."""
    import docker
    import docker.errors
    import requests

    if docker_host.startswith("unix://") and not _unix_socket_accepts(
        docker_host.removeprefix("unix://"), timeout_s
    ):
        # Asked first: the SDK leaks its socket when the connection is refused.
        return None
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=int(max(1, timeout_s)))
    except docker.errors.DockerException:
        return None
    try:
        answer: Any = client.version()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None
    finally:
        client.close()
    version = answer.get("Version") if isinstance(answer, dict) else None
    return str(version) if version else None


def _unix_socket_accepts(path: str, timeout_s: float) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def registry_answers(registry: str, timeout_s: float = 3.0) -> bool:
    """Whether a distribution registry answers `GET /v2/` at http://`registry`."""
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=timeout_s) as answer:
            return bool(answer.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _program(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.is_file()), None
    )
    if found is None:
        raise EngineError(f"{name} is not installed; install it with `apt-get install {package}`")
    return found


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise EngineError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None


def _wait(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    what: str,
    log: Path,
    timeout_s: float,
) -> float:
    began = time.monotonic()
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return time.monotonic() - began
        if process.poll() is not None:
            raise EngineError(
                f"{what} exited with status {process.returncode} while starting; its log "
                f"({log}) ends:\n{_tail(log)}"
            )
        time.sleep(POLL_S)
    raise EngineError(
        f"{what} did not answer within {timeout_s:g} s; its log ({log}) ends:\n{_tail(log)}"
    )


def dockerd_argv(settings: EngineSettings) -> list[str]:
    """The command line of the lab's dockerd (its own socket, data and exec roots)."""
    socket = settings.socket_path
    if socket is None:
        raise EngineError(
            f"DOCKER_HOST={settings.docker_host} is not a unix socket, so the lab cannot start "
            "that engine; unset DOCKER_HOST to use the lab's own dockerd, or start the engine"
        )
    return [
        _program("dockerd", "docker.io"),
        "--host",
        f"unix://{socket}",
        "--data-root",
        str(settings.state / "docker"),
        "--exec-root",
        str(EXEC_ROOT),
        "--pidfile",
        str(DOCKERD_PIDFILE),
        "--insecure-registry",
        settings.registry,
        *shlex.split(os.environ.get(DOCKERD_FLAGS_ENV, "")),
    ]


def ensure_dockerd(settings: EngineSettings, timeout_s: float = START_TIMEOUT_S) -> Started:
    """Leave a dockerd that answers at `settings.docker_host` alone, otherwise start one."""
    began = time.monotonic()
    if engine_version(settings.docker_host) is not None:
        return Started("dockerd", settings.docker_host, None, time.monotonic() - began)
    argv = dockerd_argv(settings)
    log = settings.state / "dockerd.log"
    process = _spawn(argv, log)
    _wait(
        process,
        lambda: engine_version(settings.docker_host, 2.0) is not None,
        "dockerd",
        log,
        timeout_s,
    )
    return Started("dockerd", settings.docker_host, process.pid, time.monotonic() - began)


def registry_config(settings: EngineSettings) -> str:
    """The distribution registry's configuration: filesystem storage, deletes, loopback HTTP."""
    data = settings.state / "registry" / "data"
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  fields:\n    service: registry\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: {settings.registry}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n"
    )


def registry_pidfile(settings: EngineSettings) -> Path:
    """Where the pid of the registry started by the lab is kept."""
    return settings.state / "registry" / "registry.pid"


def ensure_registry(settings: EngineSettings, timeout_s: float = START_TIMEOUT_S) -> Started:
    """Leave a registry answering at `settings.registry` alone, otherwise start one."""
    began = time.monotonic()
    if registry_answers(settings.registry):
        return Started("registry", settings.registry, None, time.monotonic() - began)
    program = _program("docker-registry", "docker-registry")
    config = settings.state / "registry" / "config.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(registry_config(settings), encoding="utf-8")
    log = settings.state / "registry" / "registry.log"
    process = _spawn([program, "serve", str(config)], log)
    registry_pidfile(settings).write_text(f"{process.pid}\n", encoding="ascii")
    _wait(process, lambda: registry_answers(settings.registry), "docker-registry", log, timeout_s)
    return Started("registry", settings.registry, process.pid, time.monotonic() - began)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pidfile(path: Path, name: str, timeout_s: float = STOP_TIMEOUT_S) -> str:
    """SIGTERM the process a pid file names and wait for it (SIGKILL after `timeout_s`)."""
    pid = _pid(path)
    if pid is None or not _alive(pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return f"{name} is not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(POLL_S)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        return f"{name} (pid {pid}) did not stop within {timeout_s:g} s and was killed"
    with contextlib.suppress(OSError):
        path.unlink()
    return f"{name} (pid {pid}) stopped"


def stop(settings: EngineSettings) -> list[str]:
    """Stop the registry and the dockerd the lab started (found by their pid files)."""
    return [
        stop_pidfile(registry_pidfile(settings), "docker-registry"),
        stop_pidfile(DOCKERD_PIDFILE, "dockerd"),
    ]
