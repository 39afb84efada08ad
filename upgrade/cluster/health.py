"""Cluster health as the upgrade judges it, and waiting for it to settle.

Healthy means: every replica's own `/_ping` answers 200 with Healthy true, and cluster_status
shows every replica OK, no critical RethinkDB current issue and every table ready on all
replicas. RethinkDB marks each issue `critical` ("true if the issue is likely to cause loss of
availability", RethinkDB's system-issues documentation; fidelity-review.md 13): the others
(`outdated_index`, ...) are evidence and warnings, never a reason for NO-GO or a settle wait.
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
    warnings: tuple[str, ...] = ()


def describe_issue(issue: dict[str, Any]) -> str:
    """One RethinkDB issue in a few words: its type and description."""
    kind = str(issue.get("type") or "issue")
    text = " ".join(str(issue.get("description") or "").split())
    return f"{kind}: {text}" if text else kind


def status_problems(status: ClusterStatus) -> list[str]:
    """What keeps cluster_status from healthy: replicas not OK, critical RethinkDB current
    issues and tables not ready on all replicas (empty when healthy)."""
    problems = [f"replica {rid}: {health}" for rid, health in status.unhealthy_replicas.items()]
    critical = status.critical_issues
    if critical:
        described = "; ".join(describe_issue(issue) for issue in critical[:3])
        problems.append(f"{len(critical)} critical RethinkDB current issue(s) ({described})")
    if status.tables_not_ready:
        problems.append(f"tables not ready: {', '.join(status.tables_not_ready[:5])}")
    return problems


def status_warnings(status: ClusterStatus) -> list[str]:
    """The non-critical RethinkDB current issues, each as a warning that does not fail."""
    return [
        f"RethinkDB reports a non-critical issue ({describe_issue(issue)}, critical: false): "
        "it does not block the upgrade; resolve it when convenient"
        for issue in status.other_issues
    ]


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
    warnings: list[str] = []
    try:
        status = dtr.cluster_status()
    except HarnessError as exc:
        problems.append(f"cluster_status: {exc}")
    else:
        replica_health = dict(status.replica_health)
        problems += status_problems(status)
        warnings = status_warnings(status)
    return HealthReport(not problems, tuple(problems), pings, replica_health, tuple(warnings))


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
