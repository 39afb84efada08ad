"""The data-plane proof in real sessions against the lab: DTR's metadata survives, the data plane
does not, and each scenario ends VERIFY-FAILED or NO-GO naming the proof's check; damage that was
there before the change is caught by preflight and not blamed on the upgrade by post."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.lab.sessions import Session, run_session

PASSWORD = "Data-proof-Pa55word-4c1d"
ENV = {"DTR_USERNAME": "admin", "DTR_PASSWORD": PASSWORD, "UCP_PASSWORD": PASSWORD}
UPGRADE = ("--to-version=2.6.4", "--apply")


def session(tmp_path: Path, *args: str) -> Session:
    return run_session(tmp_path, *args, env=ENV)


def only(run: Session, check_id: str) -> dict[str, Any]:
    (check,) = run.checks(check_id)
    return check


def proof_file(run: Session, phase: str) -> dict[str, Any]:
    data = json.loads((run.bundle / f"data-proof-{phase}.json").read_text())
    assert isinstance(data, dict)
    return data


def test_a_healthy_upgrade_proves_the_same_seeded_sample_before_and_after(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--data-proof=sample:4", "--data-proof-seed=77")
    assert run.status == 0, run.output
    assert run.result["verdict"] == "UPGRADED"
    pre = only(run, "PRE-DATA-PROOF")
    post = only(run, "POST-DATA-PROOF")
    assert pre["outcome"] == post["outcome"] == "passed"
    for check in (pre, post):
        proof = check["evidence"]["data_proof"]
        assert proof["seed"] == 77
        assert proof["mode"] == "sample:4"
        assert proof["coverage"]["manifests"] == "4 of 9"
        assert proof["coverage"]["blobs_checked"] > 0
        assert proof["failures"] == []
    before, after = proof_file(run, "preflight"), proof_file(run, "post")
    assert before["coverage"] == after["coverage"], "the same sample, the same blobs"
    for check_id, check in (("PRE-DATA-PROOF", pre), ("POST-DATA-PROOF", post)):
        blobs = check["evidence"]["data_proof"]["coverage"]["blobs_checked"]
        covered = f"4 of 9 manifests (sample:4, seed 77), {blobs} blobs: all present"
        assert check["message"] == covered, "the report's row states the proof's coverage"
        assert f"{check_id}: {covered}" in run.output, "and so does the terminal"


def test_blobs_lost_after_the_upgrade_fail_post_naming_each(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=blobs-lost")
    assert run.result["verdict"] == "VERIFY-FAILED"
    assert run.failed_ids() == {"POST-DATA-PROOF"}
    assert only(run, "POST-DATA-INTACT")["outcome"] == "passed", "the metadata survived"
    check = only(run, "POST-DATA-PROOF")
    new = check["evidence"]["new_failures"]
    assert new
    assert {(f["repository"], f["kind"], f["status"]) for f in new} == {
        ("engineering/api", "blob", 404)
    }
    assert f"{len(new)} new since preflight proved them pullable" in check["message"]
    named = check["message"].count("engineering/api:")
    assert named == len(new) or (
        named == 3 and f"and {len(new) - 3} more (see data-proof-post.json)" in check["message"]
    ), "a message that counts the failures names each or says how many more and where"
    assert "storage configuration" in check["message"]
    assert check["evidence"]["failures_before_the_change"] == []
    seeds = {
        only(run, c)["evidence"]["data_proof"]["seed"]
        for c in ("PRE-DATA-PROOF", "POST-DATA-PROOF")
    }
    assert len(seeds) == 1


def test_a_manifest_that_no_longer_matches_its_digest_fails_post(tmp_path: Path) -> None:
    run = session(tmp_path, *UPGRADE, "--lab-scenario=manifest-corrupt")
    assert run.result["verdict"] == "VERIFY-FAILED"
    assert run.failed_ids() == {"POST-DATA-PROOF"}
    (failure,) = only(run, "POST-DATA-PROOF")["evidence"]["new_failures"]
    assert (failure["repository"], failure["tag"], failure["kind"]) == (
        "admin/nginx",
        "1.15",
        "manifest",
    )
    assert failure["status"] == 200
    assert "the bytes served hash to sha256:" in failure["problem"]


def test_blobs_lost_before_the_change_are_no_go(tmp_path: Path) -> None:
    run = session(tmp_path, "--to-version=2.6.4", "--lab-scenario=blobs-lost-before")
    assert run.result["verdict"] == "NO-GO"
    assert run.failed_ids() == {"PRE-DATA-PROOF"}
    check = only(run, "PRE-DATA-PROOF")
    failures = check["evidence"]["data_proof"]["failures"]
    assert failures
    assert {f["repository"] for f in failures} == {"qa/tools"}
    assert "pull(s) fail before the change: qa/tools:2019.01 blob sha256:" in check["message"]
    assert "waive PRE-DATA-PROOF" in check["message"]
    named = check["message"].count("qa/tools:")
    assert named == len(failures) or (
        named == 3
        and f"and {len(failures) - 3} more (see data-proof-preflight.json)" in check["message"]
    )
    assert "PRE-DATA-PROOF" in run.last_line


def test_waived_damage_from_before_is_not_blamed_on_the_upgrade(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- check: PRE-DATA-PROOF\n  reason: CHG-9 qa/tools is restored after the change\n"
        "  approver: cab-chair\n  expires: 2999-01-01T00:00Z\n"
    )
    run = session(tmp_path, *UPGRADE, "--lab-scenario=blobs-lost-before", f"--waivers={waivers}")
    assert run.status == 0, run.output
    assert run.result["verdict"] == "UPGRADED"
    assert only(run, "PRE-DATA-PROOF")["outcome"] == "waived"
    check = only(run, "POST-DATA-PROOF")
    assert check["outcome"] == "passed"
    before = check["evidence"]["failures_before_the_change"]
    assert before
    assert {f["repository"] for f in before} == {"qa/tools"}
    assert check["evidence"]["new_failures"] == []
    assert any("were there before the change" in note for note in check["notes"])


def test_post_phase_sorts_against_the_preflight_bundles_proof(tmp_path: Path) -> None:
    preflight = session(tmp_path / "pre", "--to-version=2.6.4", "--lab-scenario=blobs-lost-before")
    assert preflight.result["verdict"] == "NO-GO"
    seed = only(preflight, "PRE-DATA-PROOF")["evidence"]["data_proof"]["seed"]
    post = session(
        tmp_path / "post",
        "--to-version=2.6.4",
        "--phase=post",
        "--lab-version=2.6.4",
        "--lab-scenario=blobs-lost-before",
        f"--baseline={preflight.bundle / 'baseline.json'}",
        "--update-vuln-db=online",
    )
    assert post.status == 0, post.output
    assert post.result["verdict"] == "UPGRADED"
    check = only(post, "POST-DATA-PROOF")
    assert check["outcome"] == "passed"
    assert check["evidence"]["data_proof"]["seed"] == seed, "preflight's sample repeated"
    assert {f["repository"] for f in check["evidence"]["failures_before_the_change"]} == {
        "qa/tools"
    }
    assert check["evidence"]["new_failures"] == []
    assert str(preflight.bundle) in check["evidence"]["compared_with"]


def test_data_proof_off_is_reported_as_not_run(tmp_path: Path) -> None:
    run = session(tmp_path, "--to-version=2.6.4", "--data-proof=off")
    assert run.result["verdict"] == "GO"
    check = only(run, "PRE-DATA-PROOF")
    assert check["outcome"] == "skipped"
    assert "--data-proof=off" in check["message"]
