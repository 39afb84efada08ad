"""Real upgrade and post-only sessions against the lab: every post check passes on a healthy
cluster and fails for its reason under each fault scenario."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.lab.sessions import ROOT, Session, run_session, session_argv

PASSWORD = "Post-check-Pa55word-7f3a"
ENV = {"DTR_USERNAME": "admin", "DTR_PASSWORD": PASSWORD, "UCP_PASSWORD": PASSWORD}
UPGRADE = ("--to-version=2.6.4", "--apply")


def session(tmp_path: Path, *args: str) -> Session:
    return run_session(tmp_path, *args, env=ENV)


def only(session: Session, check_id: str) -> dict[str, Any]:
    (check,) = session.checks(check_id)
    return check


def assert_no_secret_in_bundle(session: Session) -> None:
    for path in session.bundle.iterdir():
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path.name


def test_healthy_upgrade_passes_every_post_check_with_evidence(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--canary-repo=admin/canary", "--lab-scenario=create-on-push")
    assert run.status == 0, run.output
    assert run.result["verdict"] == "UPGRADED"
    post = [c for c in run.result["checks"] if c["phase"] == "post"]
    assert {c["outcome"] for c in post} <= {"passed", "skipped"}
    for check in post:
        if check["outcome"] == "passed":
            assert check["evidence"], check["id"]
        else:
            assert check["message"], check["id"]
    passed = {c["id"] for c in post if c["outcome"] == "passed"}
    assert passed >= {
        "POST-REPLICA-VERSIONS",
        "POST-CLUSTER-HEALTH",
        "POST-DOWNTIME",
        "POST-DATA-INTACT",
        "POST-CANARY",
        "POST-MIGRATION-JOBS",
        "POST-GC-UNBLOCKED",
        "POST-JOBS-NO-ERRORS",
        "POST-VULN-DB",
    }
    # The proof compared with is named by its place in the sealed bundle, not the staging
    # folder (.incomplete-...) the session wrote it in.
    compared_with = only(run, "POST-DATA-PROOF")["evidence"]["compared_with"]
    assert compared_with == "data-proof-preflight.json in this bundle"
    assert (run.bundle / "data-proof-preflight.json").is_file()
    canary = only(run, "POST-CANARY")["evidence"]["canary"]
    assert canary["tag_deleted"]
    assert canary["digest"].startswith("sha256:")
    vuln = only(run, "POST-VULN-DB")["evidence"]["vulnerability_database"]
    assert vuln["how"] == "online"
    assert vuln["status"]["db_version"] > vuln["status_before"]["db_version"]
    (migration,) = only(run, "POST-MIGRATION-JOBS")["evidence"]["migrations"]
    assert migration["action"] == "metadatastoremigration"
    assert migration["attempts"][-1]["status"] == "done"
    skipped = {c["id"]: c["message"] for c in post if c["outcome"] == "skipped"}
    assert "no Docker engine" in skipped["POST-REPLICA-CONTAINERS"]
    assert "POST-CONTENT-TRUST" in skipped
    assert_no_secret_in_bundle(run)


def test_migration_failing_three_times_fails_with_the_exact_request(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=migration-fails")
    assert run.status == 1
    assert run.result["verdict"] == "VERIFY-FAILED"
    assert "POST-MIGRATION-JOBS" in run.failed_ids()
    check = only(run, "POST-MIGRATION-JOBS")
    message = check["message"]
    assert "metadatastoremigration failed 3 time(s)" in message
    request = check["evidence"]["migrations"][0]["manual_request"]
    assert request in message
    assert request.startswith('curl -u "$DTR_USERNAME:$DTR_PASSWORD" -X POST')
    assert '/api/v0/jobs -d \'{"action":"metadatastoremigration"}\'' in request
    assert " https://127.0.0.1:" in request  # the lab's real load-balanced address
    assert check["evidence"]["migrations"][0]["failed_attempts"] == 3
    assert "POST-GC-UNBLOCKED" in run.failed_ids()
    assert_no_secret_in_bundle(run)


def test_retrigger_after_three_failures_upgrades(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=migration-fails", "--retrigger-migrations")
    assert run.status == 0, run.output
    assert run.result["verdict"] == "UPGRADED"
    check = only(run, "POST-MIGRATION-JOBS")
    (migration,) = check["evidence"]["migrations"]
    assert [a["status"] for a in migration["attempts"]] == ["errored"] * 3
    assert migration["manual_attempt"]["status"] == "done"
    assert any("re-triggered by hand" in note for note in check["notes"])
    recovered = only(run, "POST-JOBS-NO-ERRORS")["evidence"]["errored_then_recovered"]
    assert len(recovered) == 3


def test_data_loss_names_the_lost_tag(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=data-loss")
    assert run.result["verdict"] == "VERIFY-FAILED"
    assert run.failed_ids() == {"POST-DATA-INTACT"}
    check = only(run, "POST-DATA-INTACT")
    (lost,) = check["evidence"]["missing_tags"]
    assert f"tags missing: {lost}" in check["message"]


def test_failed_vulnerability_update_fails_with_the_action(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=vuln-db-update-fails")
    assert run.result["verdict"] == "VERIFY-FAILED"
    message = only(run, "POST-VULN-DB")["message"]
    assert "update_vuln_db job" in message
    assert "ended errored" in message
    assert "to fix: check that every replica reaches https://dss-cve-updates.docker.com/" in message


def test_long_outage_fails_the_downtime_budget(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=long-outage")
    assert run.failed_ids() == {"POST-DOWNTIME"}
    check = only(run, "POST-DOWNTIME")
    assert check["evidence"]["longest_outage_s"] == pytest.approx(8.0, abs=0.5)
    assert "over the 5 s budget" in check["message"]


@pytest.mark.parametrize(("settle", "healthy"), [("30s", True), ("5s", False)])
def test_slow_replica_settles_within_the_settle_timeout(
    tmp_path: Path, settle: str, healthy: bool
) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=slow-replica", f"--settle-timeout={settle}")
    check = only(run, "POST-CLUSTER-HEALTH")
    if healthy:
        assert run.result["verdict"] == "UPGRADED", run.output
        assert 10 < check["evidence"]["settle_s"] < 30
    else:
        assert run.failed_ids() == {"POST-CLUSTER-HEALTH"}
        assert "not healthy within 5 s (--settle-timeout)" in check["message"]


def test_expected_content_trust_still_off_fails(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--expect-content-trust")
    assert run.failed_ids() == {"POST-CONTENT-TRUST"}
    assert "--expect-content-trust" in only(run, "POST-CONTENT-TRUST")["message"]


def test_canary_to_a_repository_that_does_not_exist_names_the_fix(tmp_path: Path) -> None:
    """As DTR by default, the lab refuses a push to a missing repository (NAME_UNKNOWN)."""
    run = session(tmp_path, *UPGRADE, "--canary-repo=admin/canary")
    assert run.failed_ids() == {"POST-CANARY"}
    message = only(run, "POST-CANARY")["message"]
    assert "DTR has no repository admin/canary and does not create one on push" in message
    assert "--canary-repo=NAMESPACE/REPOSITORY of an existing repository" in message
    assert "delete the tag" not in message


def test_post_phase_against_a_preflight_baseline(tmp_path: Path) -> None:
    preflight = session(tmp_path / "pre", "--to-version=2.6.4")
    assert preflight.result["verdict"] == "GO"
    baseline = preflight.bundle / "baseline.json"
    post = session(
        tmp_path / "post",
        "--to-version=2.6.4",
        "--phase=post",
        "--lab-version=2.6.4",
        "--lab-scenario=content-trust-on",
        f"--baseline={baseline}",
        "--update-vuln-db=online",
        "--expect-content-trust",
    )
    assert post.status == 0, post.output
    assert post.result["verdict"] == "UPGRADED"
    assert {c["phase"] for c in post.result["checks"]} == {"post"}
    assert only(post, "POST-DATA-INTACT")["outcome"] == "passed"
    assert only(post, "POST-CONTENT-TRUST")["outcome"] == "passed"
    migration = only(post, "POST-MIGRATION-JOBS")
    assert any("metadataStoreOptedIn" in note for note in migration["notes"])
    assert "this session did not run the upgrade" in only(post, "POST-DOWNTIME")["message"]


@pytest.mark.parametrize(
    "args",
    [["--phase=post"], ["--phase=post", "--to-version=2.5.11"]],
    ids=["no version, no baseline", "no baseline"],
)
def test_post_phase_without_version_or_baseline_is_refused(tmp_path: Path, args: list[str]) -> None:
    """Without a target version and a baseline the post checks cannot judge an upgrade: on a
    cluster still on 2.5.11 this used to end UPGRADED."""
    proc = subprocess.run(
        session_argv(tmp_path / "reports", *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "--phase=post verifies an upgrade against the cluster before it: pass " in proc.stderr
    assert "--baseline=" in proc.stderr
    assert not (tmp_path / "reports").exists()
