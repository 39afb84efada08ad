"""Facts about the DTR nodes, read with testinfra: memory, disk, engine version and clock.

The guide requires 16 GB of free memory on the node that runs the upgrade; a full disk under
`/var/lib/docker` fails the pull of the new images half way; an old engine or a skewed clock
breaks RethinkDB's heartbeats and TLS. Hosts are testinfra specs (`ssh://node1`, `local://`,
`docker://container`), so the same checks run over SSH, locally or inside a container.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    disk_path: str
    disk_free_bytes: int
    engine_version: str | None
    clock_offset_s: float

    @property
    def mem_available_gb(self) -> float:
        """Free memory in GiB, as the guide's 16 GB is meant."""
        return self.mem_available_bytes / 2**30

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


def _meminfo_available(text: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemAvailable":
            return int(value.split()[0]) * 1024
    raise ValueError("no MemAvailable line in /proc/meminfo")


def gather(spec: str, *, clock: Callable[[], float] = time.time, get_host: Any = None) -> NodeFacts:
    """Read the facts of one node; raise `NodeUnreachable` naming the host and the command."""
    host = (get_host or testinfra.get_host)(spec)
    try:
        hostname = host.check_output("hostname")
        meminfo = host.file("/proc/meminfo").content_string
        disk_path = DOCKER_ROOT if host.file(DOCKER_ROOT).is_directory else "/"
        df = host.check_output("df -P -B1 %s", disk_path).splitlines()[-1].split()
        engine = host.run("docker version --format %s", "{{.Server.Version}}")
        before = clock()
        remote = float(host.check_output("date -u +%s.%N"))
        after = clock()
    except Exception as exc:  # testinfra raises plain Exceptions and backend-specific errors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NodeUnreachable(
            f"cannot read facts from host {spec}: {detail}; check --hosts "
            "and that the account may run hostname, df, date and docker"
        ) from None
    try:
        available = _meminfo_available(meminfo)
        free = int(df[3])
    except (ValueError, IndexError) as exc:
        raise NodeUnreachable(f"host {spec}: unexpected output ({exc})") from None
    return NodeFacts(
        spec=spec,
        hostname=hostname.strip(),
        mem_available_bytes=available,
        disk_path=disk_path,
        disk_free_bytes=free,
        engine_version=engine.stdout.strip() if engine.rc == 0 and engine.stdout.strip() else None,
        clock_offset_s=remote - (before + after) / 2,
    )
