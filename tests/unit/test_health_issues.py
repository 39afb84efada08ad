"""Only RethinkDB issues marked `critical` make the cluster unhealthy (RethinkDB's system-issues
documentation: `critical` is "true if the issue is likely to cause loss of availability";
fidelity-review.md 13); the others are warnings."""

from __future__ import annotations

from typing import Any

from upgrade.clients.dtr_records import ClusterStatus
from upgrade.cluster import health

OUTDATED_INDEX = {"type": "outdated_index", "critical": False, "description": "old  indexes"}
TABLE_DOWN = {"type": "table_availability", "critical": True, "description": "dtr2.tags down"}


def status(*issues: dict[str, Any]) -> ClusterStatus:
    return ClusterStatus(
        replica_health={"000000000001": "OK"},
        current_issues=issues,
        tables_not_ready=(),
        replica_readonly={},
        gc_lock_holder="",
        raw={},
    )


def test_a_non_critical_issue_is_a_warning_not_a_problem() -> None:
    found = status(OUTDATED_INDEX)
    assert health.status_problems(found) == []
    assert found.healthy
    (warning,) = health.status_warnings(found)
    assert "non-critical issue (outdated_index: old indexes, critical: false)" in warning
    assert "does not block the upgrade" in warning


def test_a_critical_issue_is_a_problem_named_by_type() -> None:
    found = status(OUTDATED_INDEX, TABLE_DOWN)
    assert health.status_problems(found) == [
        "1 critical RethinkDB current issue(s) (table_availability: dtr2.tags down)"
    ]
    assert not found.healthy
    assert len(health.status_warnings(found)) == 1


def test_an_issue_without_a_critical_flag_counts_as_critical() -> None:
    """The safe reading where an answer does not say."""
    found = status({"description": "not reachable: dtr_rethinkdb_a1"})
    assert health.status_problems(found) == [
        "1 critical RethinkDB current issue(s) (issue: not reachable: dtr_rethinkdb_a1)"
    ]
    assert health.status_warnings(found) == []
