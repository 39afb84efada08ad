"""RethinkDB's `current_issues` carry `critical` (RethinkDB's system-issues documentation;
fidelity-review.md 13): only critical ones make the cluster unhealthy; the others are evidence
and warnings."""

from __future__ import annotations

from pathlib import Path

from tests.lab.sessions import run_session


def test_a_non_critical_issue_is_go_with_a_warning(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=rethink-noncritical-issue")
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks("PRE-CLUSTER-STATUS")
    assert check["outcome"] == "passed"
    assert [issue["type"] for issue in check["evidence"]["current_issues"]] == ["outdated_index"]
    assert any("non-critical issue (outdated_index" in note for note in check["notes"])


def test_a_critical_issue_is_no_go_naming_it(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=rethink-critical-issue")
    assert run.result["verdict"] == "NO-GO", run.output
    (check,) = run.checks("PRE-CLUSTER-STATUS")
    assert check["outcome"] == "failed"
    assert "1 critical RethinkDB current issue(s) (table_availability" in check["message"]


def test_a_non_critical_issue_after_the_upgrade_is_upgraded_with_a_warning(tmp_path: Path) -> None:
    run = run_session(
        tmp_path,
        "--to-version=2.6.4",
        "--apply",
        "--upgrade-backoff=0.2s",
        "--settle-timeout=5s",
        "--lab-scenario=rethink-noncritical-issue",
    )
    assert run.result["verdict"] == "UPGRADED", run.output
    (check,) = run.checks("POST-CLUSTER-HEALTH")
    assert check["outcome"] == "passed"
    assert check["evidence"]["settle_s"] < 5
    assert any("non-critical issue (outdated_index" in note for note in check["notes"])
