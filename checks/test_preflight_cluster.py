"""Preflight: the cluster is healthy, big enough, and no job is running that must not be cut."""

from __future__ import annotations

import pytest

from upgrade.cluster.health import status_problems, status_warnings
from upgrade.cluster.job_rules import blocking_jobs
from upgrade.cluster.target import Target
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-REPLICA-PING")
def test_replica_ping(target: Target, replica: str, evidence: CheckRecord) -> None:
    """The replica's own /_ping answers 200 with Healthy true (queried on the replica itself,
    not through the load balancer, as DTR's load-balancer guide says)."""
    url = target.replica_urls()[replica]
    ping = target.dtr().ping(url)
    evidence.attach("url", url)
    evidence.attach("ping", ping)
    assert ping.healthy, (
        f"replica {replica} is unhealthy: /_ping answered {ping.status}"
        f"{' (' + ping.error + ')' if ping.error else ''}; repair or remove it before the upgrade"
    )


@pytest.mark.check("PRE-CLUSTER-STATUS")
def test_cluster_status(target: Target, evidence: CheckRecord) -> None:
    """cluster_status shows every replica OK, no critical RethinkDB current issue, and every
    table ready on all replicas: the upgrade replaces replicas one at a time and needs the
    others to hold the data meanwhile. Issues RethinkDB marks `critical: false` are warnings
    (RethinkDB's system-issues documentation; fidelity-review.md 13)."""
    status = target.dtr().cluster_status()
    evidence.attach("replica_health", status.replica_health)
    evidence.attach("current_issues", list(status.current_issues))
    evidence.attach("tables_not_ready", list(status.tables_not_ready))
    evidence.attach("replica_readonly", status.replica_readonly)
    for warning in status_warnings(status):
        evidence.note(warning)
    problems = status_problems(status)
    assert not problems, "cluster is not healthy: " + "; ".join(problems)


@pytest.mark.check("PRE-REPLICA-COUNT")
def test_replica_count(target: Target, evidence: CheckRecord) -> None:
    """The number of replicas: one replica means a full outage during the upgrade; an even
    number risks losing RethinkDB quorum while one replica is replaced (use 3, 5 or 7)."""
    replicas = target.replica_urls()
    count = len(replicas)
    evidence.attach("replicas", sorted(replicas))
    evidence.attach("count", count)
    assert count >= 1, "DTR reports no replicas at all"
    if count == 1:
        evidence.note("a single replica: DTR is unavailable while it is replaced (full outage)")
    elif count % 2 == 0:
        evidence.note(
            f"{count} replicas: an even count tolerates no more failures than {count - 1}; "
            "while one is replaced, a second failure loses quorum"
        )


@pytest.mark.check("PRE-BLOCKING-JOBS")
def test_no_blocking_jobs(target: Target, evidence: CheckRecord) -> None:
    """No garbage collection or migration job is running: cutting them leaves the registry
    read-only or the metadata half migrated."""
    running = list(target.dtr().jobs(running="true"))
    blocking = blocking_jobs(running)
    evidence.attach(
        "running_jobs",
        [
            {"id": job.id, "action": job.action, "status": job.status, "worker": job.worker_id}
            for job in running
        ],
    )
    assert not blocking, (
        "jobs that must not be interrupted are running: "
        + ", ".join(f"{job.action} ({job.id})" for job in blocking)
        + "; wait for them to finish or cancel them (POST /api/v0/jobs/{id}/cancel)"
    )
