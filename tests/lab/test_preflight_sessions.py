"""Real preflight sessions against the lab: each fault scenario gives NO-GO for its reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.sessions import ROOT, run_session


def session(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    """Run `pytest --target=lab ...`; return status, output and result.json."""
    run = run_session(tmp_path, *args)
    return run.status, run.output, run.result


def failed_ids(result: dict[str, Any]) -> set[str]:
    return {c["id"] for c in result["checks"] if c["outcome"] in ("failed", "error")}


def test_healthy_lab_is_go(tmp_path: Path) -> None:
    status, output, result = session(tmp_path, "--to-version=2.6.4")
    assert status == 0, output
    assert result["verdict"] == "GO"
    assert result["from_version"] == "2.5.11"
    assert output.rstrip().splitlines()[-1].startswith("VERDICT: GO")
    assert (tmp_path / "reports" / "latest" / "baseline.json").is_file()
    # The report names the image this site would run (the lab's), not the catalogue's.
    report = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert "dtrlab/dtr:2.6.4 (planned)" in report
    assert "docker/dtr:2.6.4 (planned)" not in report


def test_without_to_version_is_a_health_check(tmp_path: Path) -> None:
    status, _, result = session(tmp_path)
    assert status == 0
    assert result["verdict"] == "HEALTHY"
    assert all(c["phase"] == "preflight" for c in result["checks"])


@pytest.mark.parametrize(
    ("scenario", "expected", "evidence_key"),
    [
        ("content-trust-on", {"PRE-CONTENT-TRUST"}, "content_trust"),
        ("ucp-too-old", {"PRE-UCP-COMPAT"}, "compatibility"),
        ("no-backup", {"PRE-BACKUP"}, None),
        ("stale-backup", {"PRE-BACKUP"}, "age_hours"),
        ("replica-unhealthy", {"PRE-REPLICA-PING", "PRE-CLUSTER-STATUS"}, "ping"),
        ("mixed-versions", {"PRE-REPLICA-VERSIONS"}, "replica_versions"),
        ("gc-running", {"PRE-BLOCKING-JOBS"}, "running_jobs"),
    ],
)
def test_fault_scenario_is_no_go_for_its_reason(
    tmp_path: Path, scenario: str, expected: set[str], evidence_key: str | None
) -> None:
    status, output, result = session(tmp_path, "--to-version=2.6.4", f"--lab-scenario={scenario}")
    assert status == 1, output
    assert result["verdict"] == "NO-GO"
    assert failed_ids(result) == expected, output
    check = next(c for c in result["checks"] if c["id"] in expected and c["outcome"] == "failed")
    assert check["message"]
    if evidence_key:
        assert evidence_key in check["evidence"], check


def test_mixed_versions_for_another_target_says_how_to_resume(tmp_path: Path) -> None:
    _, _, result = session(tmp_path, "--to-version=2.6.4", "--lab-scenario=mixed-versions")
    check = next(c for c in result["checks"] if c["id"] == "PRE-REPLICA-VERSIONS")
    assert "pass --to-version with the version it was going to, and --apply" in check["message"]


def test_an_unfinished_upgrade_to_the_target_is_resumed(tmp_path: Path) -> None:
    """The guide's resume: replicas on 2.5.11 and 2.6.15 are an upgrade to 2.6.15 cut short;
    --to-version=2.6.15 --apply re-runs the bootstrapper, which upgrades the rest."""
    status, output, result = session(
        tmp_path, "--to-version=2.6.15", "--lab-scenario=mixed-versions"
    )
    assert result["verdict"] == "GO", output
    check = next(c for c in result["checks"] if c["id"] == "PRE-REPLICA-VERSIONS")
    assert any("this session resumes it" in note for note in check["notes"])
    assert result["from_version"] == "2.5.11"
    status, output, result = session(
        tmp_path / "apply", "--to-version=2.6.15", "--apply", "--lab-scenario=mixed-versions"
    )
    assert status == 0, output
    assert result["verdict"] == "UPGRADED"
    assert "is already at 2.6.15; skipping" in output


def test_skip_minor_is_no_go_with_the_stops(tmp_path: Path) -> None:
    _, _, result = session(tmp_path, "--to-version=2.7.1")
    assert result["verdict"] == "NO-GO"
    check = next(c for c in result["checks"] if c["id"] == "PRE-VERSION-PATH")
    assert check["outcome"] == "failed"
    assert check["evidence"]["evaluation"]["kind"] == "skip-minor"
    assert check["evidence"]["path"][0] == "2.5.11"
    assert check["evidence"]["path"][-1] == "2.7.1"
    assert "upgrade in steps: 2.5.11 -> 2.6." in check["message"]


def test_waiver_makes_go_but_never_for_version_path(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "- check: PRE-CONTENT-TRUST\n  reason: CHG-7 signed images only after the change\n"
        "  approver: cab-chair\n  expires: 2999-01-01T00:00Z\n"
    )
    status, output, result = session(
        tmp_path, "--to-version=2.6.4", "--lab-scenario=content-trust-on", f"--waivers={waivers}"
    )
    assert status == 0, output
    assert result["verdict"] == "GO"
    check = next(c for c in result["checks"] if c["id"] == "PRE-CONTENT-TRUST")
    assert check["outcome"] == "waived"
    assert check["waiver"]["approver"] == "cab-chair"
    waivers.write_text(
        "- check: PRE-VERSION-PATH\n  reason: x\n  approver: y\n  expires: 2999-01-01\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--target=lab",
            "--to-version=2.7.1",
            f"--waivers={waivers}",
            f"--report-dir={tmp_path / 'r2'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4
    assert "PRE-VERSION-PATH cannot be waived" in proc.stderr


def test_node_checks_run_through_testinfra(tmp_path: Path) -> None:
    _, _, result = session(
        tmp_path, "--to-version=2.6.4", "--hosts=local://", "--min-free-memory-gb=100000"
    )
    checks = {c["id"]: c for c in result["checks"] if c["id"].startswith("PRE-NODE-")}
    assert checks["PRE-NODE-MEMORY"]["outcome"] == "failed"
    assert "needs 100000 GB" in checks["PRE-NODE-MEMORY"]["message"]
    assert checks["PRE-NODE-CLOCK"]["outcome"] == "passed"
    assert checks["PRE-NODE-DISK"]["outcome"] == "passed"
    facts = checks["PRE-NODE-CLOCK"]["evidence"]["node"]
    assert facts["spec"] == "local://"
    assert facts["mem_available_bytes"] > 0


def test_an_exported_dtr_token_is_what_the_lab_session_authenticates_with(
    tmp_path: Path,
) -> None:
    token = "lab-token-" + "7" * 24
    run = run_session(tmp_path, env={"DTR_TOKEN": token})
    assert run.result["verdict"] == "HEALTHY", run.output
    (check,) = run.checks("PRE-CREDENTIALS")
    assert check["evidence"]["account"] == "DTR_USERNAME=admin with DTR_TOKEN"
    assert token not in run.output
    assert token not in (tmp_path / "reports" / "latest" / "result.json").read_text()
