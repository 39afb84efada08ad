"""Cluster health as the upgrade judges it, and waiting for it to settle.

Healthy means: every replica's own `/_ping` answers 200 with Healthy true, and cluster_status
shows every replica OK, no RethinkDB current issue and every table ready on all replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from upgrade.clients.dtr_records import ClusterStatus
from upgrade.cluster.target import Target
from upgrade.errors import HarnessError


@dataclass(frozen=True)
class HealthReport:
    """One look at the cluster's health."""

    healthy: bool
    problems: tuple[str, ...]
    pings: dict[str, dict[str, Any]] = field(default_factory=dict)
    replica_health: dict[str, str] = field(default_factory=dict)


def status_problems(status: ClusterStatus) -> list[str]:
    """What keeps cluster_status from healthy: replicas not OK, RethinkDB current issues and
    tables not ready on all replicas (empty when healthy)."""
    problems = [f"replica {rid}: {health}" for rid, health in status.unhealthy_replicas.items()]
    if status.current_issues:
        problems.append(f"{len(status.current_issues)} RethinkDB current issue(s)")
    if status.tables_not_ready:
        problems.append(f"tables not ready: {', '.join(status.tables_not_ready[:5])}")
    return problems


def look(target: Target) -> HealthReport:
    """Read every replica's /_ping and cluster_status once; errors become problems."""
    dtr = target.dtr()
    problems: list[str] = []
    pings: dict[str, dict[str, Any]] = {}
    for rid, url in sorted(target.replica_urls().items()):
        try:
            ping = dtr.ping(url)
        except HarnessError as exc:
            pings[rid] = {"healthy": False, "error": str(exc)}
            problems.append(f"replica {rid}: {exc}")
            continue
        pings[rid] = {"healthy": ping.healthy, "status": ping.status, "error": ping.error}
        if not ping.healthy:
            problems.append(f"replica {rid}: /_ping {ping.status} {ping.error}".rstrip())
    replica_health: dict[str, str] = {}
    try:
        status = dtr.cluster_status()
    except HarnessError as exc:
        problems.append(f"cluster_status: {exc}")
    else:
        replica_health = dict(status.replica_health)
        problems += status_problems(status)
    return HealthReport(not problems, tuple(problems), pings, replica_health)


@dataclass(frozen=True)
class Settled:
    """The outcome of waiting for health: the last look and how long the wait took."""

    report: HealthReport
    waited_s: float
    looks: int


def wait_healthy(
    target: Target,
    timeout_s: float,
    *,
    interval_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    check: Callable[[Target], HealthReport] = look,
) -> Settled:
    """Look until the cluster is healthy or `timeout_s` passed; return the last look."""
    began = clock()
    looks = 0
    while True:
        report = check(target)
        looks += 1
        waited = clock() - began
        if report.healthy or waited >= timeout_s:
            return Settled(report, waited, looks)
        sleep(min(interval_s, max(timeout_s - waited, 0.0)))
