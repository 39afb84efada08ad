"""Facts about the DTR nodes, read with testinfra: memory, disk, engine version and clock, and
which node runs the bootstrapper.

The guide asks for "at least 16GB of available RAM" on the node that runs the upgrade and links
that to the system requirements, where 16 GB is the node's RAM ("Minimum requirements: 16GB of
RAM for nodes running MSR", Mirantis containers v3.0 MSR install; fidelity-review.md 4): so the
node's total memory (`MemTotal`) is compared, in GB of 10^9 bytes, and `MemAvailable` (always
below 16 GiB on a 16 GB host) is evidence. The bootstrapper runs where `docker run` runs it: on
the engine `DOCKER_HOST` names, or through UCP on a node UCP's scheduler picks (the 2.7 guide:
it "can run from any node"; dtr-facts.md 5.2). A full disk under `/var/lib/docker` fails the
pull of the new images half way; an old engine or a skewed clock breaks RethinkDB's heartbeats
and TLS. Hosts are testinfra specs (`ssh://node1`, `local://`, `docker://container`), so the
same checks run over SSH, locally or inside a container.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

import testinfra

from upgrade.errors import HarnessError

DOCKER_ROOT = "/var/lib/docker"


class NodeUnreachable(HarnessError):
    """testinfra could not run a command on the node."""


@dataclass(frozen=True)
class NodeFacts:
    """What one node told us, with the command outputs kept as evidence."""

    spec: str
    hostname: str
    mem_available_bytes: int
    mem_total_bytes: int
    disk_path: str
    disk_free_bytes: int
    engine_version: str | None
    clock_offset_s: float

    @property
    def mem_available_gb(self) -> float:
        """Available memory (`MemAvailable`) in GB of 10^9 bytes: evidence only."""
        return self.mem_available_bytes / 10**9

    @property
    def mem_total_gb(self) -> float:
        """The node's RAM (`MemTotal`) in GB of 10^9 bytes, as the system requirements' 16 GB
        is meant: a 16 GiB host (MemTotal about 16.4 GB after the kernel's share) meets it."""
        return self.mem_total_bytes / 10**9

    @property
    def disk_free_gb(self) -> float:
        """Free disk in GiB."""
        return self.disk_free_bytes / 2**30


def engine_release(text: str) -> tuple[int, ...]:
    """`19.03.12`, `20.10.24+dfsg1`, `18.09.7-ce` -> (19, 3, 12), for comparing Docker engine
    versions: they are zero-padded (YY.MM), which DTR's version rules reject as malformed."""
    core = text.strip().split("-")[0].split("+")[0]
    return tuple(int(part) for part in core.split(".") if part.isdigit())


def engine_at_least(found: str, minimum: str) -> bool:
    """Whether the engine version `found` is `minimum` or newer (see `engine_release`)."""
    return engine_release(found) >= engine_release(minimum)


def _meminfo(text: str, field: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == field:
            return int(value.split()[0]) * 1024
    raise ValueError(f"no {field} line in /proc/meminfo")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def run_on_node(host: Any, spec: str, command: str, *args: str, ok: Container[int] = (0,)) -> Any:
    """Run `command` on the node; a command that cannot run, or exits other than `ok`, is
    `NodeUnreachable` naming the host, the command and what it said (never testinfra's
    CommandResult repr: testinfra's own check_output puts that in its AssertionError)."""
    shown = command % args if args else command
    try:
        result = host.run(command, *args)
    except Exception as exc:  # testinfra raises plain Exceptions and backend-specific errors
        # testinfra's ssh backend raises RuntimeError(CommandResult) when ssh exits 255
        # (testinfra/backend/ssh.py): its stderr says why ssh could not reach the node.
        failed = exc.args[0] if exc.args and hasattr(exc.args[0], "rc") else None
        if failed is None:
            detail = _first_line(str(exc)) or type(exc).__name__
            raise NodeUnreachable(_unreadable(spec, f"{detail} (running {shown})")) from None
        result = failed
    if result.rc not in ok:
        said = _first_line(_text(result, "stderr")) or _first_line(_text(result, "stdout"))
        raise NodeUnreachable(
            _unreadable(spec, f"{shown} exited {result.rc}" + (f": {said}" if said else ""))
        )
    return result


def _text(result: Any, stream: str) -> str:
    try:
        value = getattr(result, stream, "")
    except Exception:  # testinfra decodes lazily; undecodable output is not worth a failure
        return ""
    return value if isinstance(value, str) else ""


def _unreadable(spec: str, detail: str) -> str:
    return (
        f"cannot read facts from host {spec}: {detail}; check --hosts "
        "and that the account may run hostname, cat, df, date and docker"
    )


def gather(spec: str, *, clock: Callable[[], float] = time.time, get_host: Any = None) -> NodeFacts:
    """Read the facts of one node; raise `NodeUnreachable` naming the host and the command."""
    try:
        host = (get_host or testinfra.get_host)(spec)
    except Exception as exc:  # an unknown backend or its missing package (checked by --hosts)
        detail = _first_line(str(exc)) or type(exc).__name__
        raise NodeUnreachable(_unreadable(spec, f"testinfra cannot open it: {detail}")) from None
    hostname = run_on_node(host, spec, "hostname").stdout
    meminfo = run_on_node(host, spec, "cat /proc/meminfo").stdout
    is_dir = run_on_node(host, spec, "test -d %s", DOCKER_ROOT, ok=(0, 1)).rc == 0
    disk_path = DOCKER_ROOT if is_dir else "/"
    df_text = run_on_node(host, spec, "df -P -B1 %s", disk_path).stdout
    any_exit = range(-255, 256)  # no engine is evidence (engine_version None), not a failure
    engine = run_on_node(
        host, spec, "docker version --format %s", "{{.Server.Version}}", ok=any_exit
    )
    before = clock()
    remote_text = run_on_node(host, spec, "date -u +%s.%N").stdout
    after = clock()
    try:
        available = _meminfo(meminfo, "MemAvailable")
        total = _meminfo(meminfo, "MemTotal")
        free = int(df_text.strip().splitlines()[-1].split()[3])
        remote = float(remote_text)
    except (ValueError, IndexError) as exc:
        raise NodeUnreachable(f"host {spec}: unexpected output ({exc})") from None
    return NodeFacts(
        spec=spec,
        hostname=hostname.strip(),
        mem_available_bytes=available,
        mem_total_bytes=total,
        disk_path=disk_path,
        disk_free_bytes=free,
        engine_version=engine.stdout.strip() if engine.rc == 0 and engine.stdout.strip() else None,
        clock_offset_s=remote - (before + after) / 2,
    )


@dataclass(frozen=True)
class BootstrapperNode:
    """Where the bootstrapper will run, as far as can be told before it runs: the node's name
    (None when only its scheduler knows) and how that was told."""

    name: str | None
    how: str

    def is_node(self, hostname: str) -> bool:
        """Whether `hostname` is this node (the first DNS label, case-insensitive)."""
        if self.name is None:
            return False
        return _short(hostname) == _short(self.name)


def _short(name: str) -> str:
    return name.strip().split(".")[0].lower()


def bootstrapper_node(
    has_engine: bool,
    client_factory: Callable[[], Any] | None = None,
    this_machine: Callable[[], str] = socket.gethostname,
) -> BootstrapperNode:
    """The node the bootstrapper runs on: this machine for the lab's bootstrapper process; the
    engine's own node (`docker info` Name) for a single engine; unknown through UCP, whose
    scheduler picks the node when the container starts, or when no engine answers."""
    if not has_engine:
        name = this_machine()
        return BootstrapperNode(name, f"the lab's bootstrapper runs as a process on {name}")
    from upgrade.cluster.containers import close_client, engine_client, engine_host

    host = engine_host()
    try:
        client = (client_factory or engine_client)()
    except HarnessError as exc:
        return BootstrapperNode(None, f"no Docker engine answered ({exc})")
    try:
        version = client.version()
        info = client.info()
    except Exception as exc:  # docker.errors.APIError and connection errors alike
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return BootstrapperNode(None, f"the Docker engine at {host} did not answer ({detail})")
    finally:
        close_client(client)
    server = str(version.get("Version", "")) if isinstance(version, dict) else ""
    if server.lower().startswith("ucp/"):
        return BootstrapperNode(
            None, f"UCP at {host} schedules the bootstrapper on a node it picks when it starts"
        )
    name = str(info.get("Name") or "") if isinstance(info, dict) else ""
    if not name:
        return BootstrapperNode(None, f"the Docker engine at {host} did not say its node's name")
    return BootstrapperNode(name, f"the Docker engine at {host} (DOCKER_HOST) runs it on {name}")
