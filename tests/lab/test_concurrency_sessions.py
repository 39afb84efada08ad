"""PRE-NO-UPGRADE-RUNNING in real lab sessions: the in-process lab has no engine, so the check
is not applicable and says what it did not look at."""

from __future__ import annotations

from pathlib import Path

from tests.lab.sessions import run_session

ID = "PRE-NO-UPGRADE-RUNNING"


def test_the_lab_without_engine_skips_the_check_and_stays_go(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4")
    assert run.status == 0, run.output
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks(ID)
    assert check["outcome"] == "skipped"
    assert "no running bootstrapper container was looked for" in check["message"]
    assert check["evidence"]["mixed_replica_versions"].startswith("judged by PRE-REPLICA-VERSIONS")
