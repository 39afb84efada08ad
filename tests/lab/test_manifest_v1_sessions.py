"""DTR 2.6's manifest v1 image check in whole sessions: schema-1 images are a warning,
--no-image-check reaches the 2.6 bootstrapper, and is refused for a plan without a 2.6 hop
(reference/dtr/2.6/cli/upgrade.md; fidelity-review.md 14)."""

from __future__ import annotations

from pathlib import Path

from tests.lab.sessions import run_session

SCENARIO = "--lab-scenario=manifest-v1-image"
CHECK_LINE = "Checking for images with manifest schema v1"


def test_a_schema1_image_is_go_with_a_warning_naming_it(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", SCENARIO)
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks("PRE-MANIFEST-V1")
    assert check["outcome"] == "passed"
    assert check["evidence"]["schema1_tags"] == ["legacy/centos:6"]
    (note,) = check["notes"]
    assert "1 tag(s) are manifest schema 1 images (legacy/centos:6)" in note
    assert "--no-image-check" in note
    lines = run.output.splitlines()
    assert any(
        line.startswith("WARNING PRE-MANIFEST-V1: 1 tag(s) are manifest schema 1") for line in lines
    ), run.output
    assert run.last_line.startswith("VERDICT: GO - "), run.output
    # The catalogue's own warning (PRE-VERSION-PATH) is counted with it.
    assert " warnings (PRE-MANIFEST-V1, " in run.last_line
    report = (run.bundle / "report.html").read_text()
    assert "WARNING PRE-MANIFEST-V1: 1 tag(s) are manifest schema 1" in report


def test_no_image_check_reaches_the_2_6_bootstrapper(tmp_path: Path) -> None:
    run = run_session(
        tmp_path,
        "--to-version=2.6.4",
        "--apply",
        "--upgrade-backoff=0.2s",
        "--no-image-check",
        SCENARIO,
    )
    assert run.result["verdict"] == "UPGRADED", run.output
    (check,) = run.checks("PRE-MANIFEST-V1")
    assert "--no-image-check is passed to the 2.6 bootstrapper" in check["notes"][0]
    log = (run.bundle / "upgrade.log").read_text()
    assert "Upgrading DTR from 2.5.11 to 2.6.4" in log
    assert CHECK_LINE not in log


def test_no_image_check_without_a_2_6_hop_is_no_go(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--lab-version=2.6.4", "--to-version=2.7.8", "--no-image-check")
    assert run.result["verdict"] == "NO-GO", run.output
    (check,) = run.checks("PRE-MANIFEST-V1")
    assert check["outcome"] == "failed"
    assert "drop --no-image-check" in check["message"]
