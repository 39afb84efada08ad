"""What pytest never collects counts as much as what it deselects: a path argument, --ignore,
--ignore-glob or an ini override that leaves a shipped check out makes a read-only session
INCOMPLETE and an --apply session refuse before anything changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.lab.sessions import ROOT, session_argv
from upgrade.plugin.check_catalogue import known_checks


def run(tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    reports = tmp_path / "reports"
    done = subprocess.run(
        session_argv(reports, *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, reports


@pytest.mark.parametrize(
    "selection",
    [
        ["checks/test_preflight_ucp.py"],
        ["--ignore=checks/test_preflight_backup.py"],
        ["--ignore-glob=*backup*"],
        ["-o", "python_functions=test_[!b]*"],
    ],
    ids=["path", "--ignore", "--ignore-glob", "-o python_functions"],
)
def test_a_check_left_out_of_collection_is_never_a_go(tmp_path: Path, selection: list[str]) -> None:
    status, output, reports = run(
        tmp_path, "--to-version=2.6.4", "--lab-scenario=no-backup", *selection
    )
    last = output.rstrip().splitlines()[-1]
    assert last.startswith("VERDICT: INCOMPLETE - "), output
    assert "left out of collection" in last
    assert status == 1
    result = json.loads((reports / "latest" / "result.json").read_text())
    missing = {c["id"] for c in result["checks"] if c["outcome"] == "not-collected"}
    assert "PRE-BACKUP" in missing


@pytest.mark.parametrize(
    "selection",
    [["checks/test_preflight_backup.py"], ["--ignore=checks/test_preflight_backup.py"]],
    ids=["path", "--ignore"],
)
def test_apply_refuses_a_check_left_out_of_collection(tmp_path: Path, selection: list[str]) -> None:
    status, output, reports = run(tmp_path, "--to-version=2.6.4", "--apply", *selection)
    assert status == pytest.ExitCode.USAGE_ERROR, output
    assert "ERROR: --apply runs the whole procedure" in output
    assert "Upgrading replica" not in output
    assert not any(reports.glob("2*")), "a refused session wrote a bundle"


def test_the_catalogue_knows_every_shipped_check_with_its_phase() -> None:
    known = {c.check_id: c for c in known_checks(ROOT / "checks", ROOT)}
    assert known["PRE-BACKUP"].phase == "preflight"
    assert known["UPG-BOOTSTRAPPER"].phase == "upgrade"
    assert known["POST-DATA-INTACT"].phase == "post"
    assert known["PRE-VERSION-PATH"].needs_target_version
    assert not known["PRE-REPLICA-COUNT"].needs_target_version
    assert known["PRE-BACKUP"].nodeid.startswith("checks/test_preflight_backup.py::test_")
