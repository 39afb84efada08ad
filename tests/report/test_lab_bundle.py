"""The bundle of a real lab upgrade: its files, no secret anywhere, the chart from the prober,
and `dtr-upgrade verify-bundle` as an auditor runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab.sessions import Session
from tests.report.conftest import secret_forms
from tests.report.reportdata import report_data, rows

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "upgrade.cli"]


def test_bundle_has_every_file_and_verifies(upgraded: Session) -> None:
    names = {p.name for p in upgraded.bundle.iterdir()}
    assert {
        "report.html",
        "result.json",
        "junit.xml",
        "upgrade.log",
        "baseline.json",
        "SHA256SUMS",
    } <= names
    listed = (upgraded.bundle / "SHA256SUMS").read_text()
    for name in names - {"SHA256SUMS"}:
        assert f"  {name}\n" in listed
    assert re.fullmatch(r"\d{8}T\d{6}Z-lab-2\.5\.11-2\.6\.4", upgraded.bundle.name)


def test_no_secret_in_any_bundle_file_nor_in_the_terminal(upgraded: Session) -> None:
    files = [p for p in upgraded.bundle.rglob("*") if p.is_file()]
    assert len(files) >= 6
    for label, form in secret_forms().items():
        for path in files:
            assert form.encode() not in path.read_bytes(), f"{label} appears in {path.name}"
        assert form not in upgraded.output, f"{label} appears in the terminal output"


def test_report_shows_every_check_and_the_prober_chart(upgraded: Session) -> None:
    report = upgraded.bundle / "report.html"
    checks = upgraded.result["checks"]
    assert set(rows(report)) == {c["id"] for c in checks}
    text = report.read_text()
    availability = upgraded.result["availability"]["endpoints"]
    assert text.count('class="dtr-endpoint"') == len(availability)
    outages = sum(len(e["outages"]) for e in availability.values())
    assert outages > 0, "the lab's rolling upgrade takes each replica down once"
    assert text.count('class="dtr-outage"') == outages
    environment = report_data(report)["environment"]
    assert environment["Change ID"] == "CHG-1042"
    assert environment["Bootstrapper image"] == upgraded.result["upgrade"]["image"]
    assert environment["From version"] == "2.5.11"


def verify_bundle(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("dtr-upgrade", path=str(Path(sys.executable).parent))
    command = [script] if script else CLI
    return subprocess.run(
        [*command, "verify-bundle", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_verify_bundle_command_reports_ok_then_each_edit(upgraded: Session, tmp_path: Path) -> None:
    copy = tmp_path / upgraded.bundle.name
    shutil.copytree(upgraded.bundle, copy)
    ok = verify_bundle(str(copy))
    assert (ok.returncode, ok.stdout) == (0, "OK (not signed)\n")

    report = copy / "report.html"
    report.write_text(report.read_text().replace("UPGRADED", "UPGRADED!"))
    (copy / "upgrade.log").unlink()
    (copy / "notes.txt").write_text("added afterwards\n")
    tampered = verify_bundle(str(copy))
    assert tampered.returncode == 1
    assert tampered.stdout.splitlines() == [
        "changed: report.html",
        "added: notes.txt",
        "removed: upgrade.log",
    ]


def test_verify_bundle_on_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    missing = verify_bundle(str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert (
        missing.stderr
        == f"dtr-upgrade verify-bundle: error: {tmp_path / 'nope'}: no such bundle directory\n"
    )
