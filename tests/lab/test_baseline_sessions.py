"""A --phase=post session judges the cluster its --baseline was taken from, and refuses a
baseline of another cluster (another DTR's replica IDs) instead of comparing against it; a
--baseline that is no baseline, not as its preflight bundle sealed it, or given to a session
that does not read it is refused at start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.lab.sessions import ROOT, Session, run_session, session_argv

PASSWORD = "Baseline-match-Pa55word-41c2"
ENV = {"DTR_USERNAME": "admin", "DTR_PASSWORD": PASSWORD, "UCP_PASSWORD": PASSWORD}


def session(tmp_path: Path, *args: str) -> Session:
    return run_session(tmp_path, *args, env=ENV)


def test_a_baseline_of_another_cluster_is_refused(tmp_path: Path) -> None:
    preflight = session(tmp_path / "pre", "--to-version=2.6.4", "--lab-version=2.6.4")
    baseline = preflight.bundle / "baseline.json"
    recorded = sorted(json.loads(baseline.read_text())["replica_versions"])
    post = session(
        tmp_path / "post",
        "--to-version=2.6.4",
        "--phase=post",
        "--lab-version=2.6.4",
        "--lab-scenario=another-cluster",
        f"--baseline={baseline}",
    )
    assert post.result["verdict"] == "VERIFY-FAILED", post.output
    assert post.status != 0
    (match,) = post.checks("POST-BASELINE-MATCH")
    assert match["outcome"] == "failed"
    message = match["message"]
    assert f"--baseline {baseline} was taken from another DTR cluster" in message
    assert f"(replicas {', '.join(recorded)})" in message
    now = match["evidence"]["replicas"]
    assert not set(now) & set(recorded)
    assert f"has replicas {', '.join(now)}, none in common" in message
    assert "pass the baseline.json of a preflight bundle of this DTR" in message
    # No check compared this cluster against the other one's baseline.
    (intact,) = post.checks("POST-DATA-INTACT")
    assert intact["outcome"] == "error"
    assert "was taken from another DTR cluster" in intact["message"]
    assert "Traceback" not in post.output


def test_the_same_cluster_matches_its_baseline(tmp_path: Path) -> None:
    """Without `another-cluster` the post session's lab is the baseline's cluster (its replica
    IDs), as a real DTR after its upgrade."""
    preflight = session(tmp_path / "pre", "--to-version=2.6.4", "--lab-version=2.6.4")
    baseline = preflight.bundle / "baseline.json"
    post = session(
        tmp_path / "post",
        "--to-version=2.6.4",
        "--phase=post",
        "--lab-version=2.6.4",
        f"--baseline={baseline}",
        "-k",
        "BASELINE or data_intact",
    )
    (match,) = post.checks("POST-BASELINE-MATCH")
    assert match["outcome"] == "passed", post.output
    assert sorted(match["evidence"]["replicas"]) == sorted(
        json.loads(baseline.read_text())["replica_versions"]
    )


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A preflight bundle, sealed: its baseline.json, data-proof-preflight.json, SHA256SUMS."""
    preflight = session(tmp_path_factory.mktemp("pre"), "--to-version=2.6.4")
    assert preflight.result["verdict"] == "GO", preflight.output
    return preflight.bundle


def refused(tmp_path: Path, *args: str) -> str:
    """The one line a session refused at start with (exit 4, no bundle written)."""
    reports = tmp_path / "reports"
    proc = subprocess.run(
        session_argv(reports, *args),
        cwd=ROOT,
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert not reports.exists(), "no session ran"
    assert "Traceback" not in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if "--baseline" in line]
    return line


def post_args(baseline: Path) -> list[str]:
    return [
        "--to-version=2.6.4",
        "--phase=post",
        "--lab-version=2.6.4",
        f"--baseline={baseline}",
        "--update-vuln-db=online",
    ]


def test_an_edited_baseline_is_refused_before_any_check(tmp_path: Path, sealed: Path) -> None:
    """A repository deleted from a copy of the bundle's baseline.json used to end UPGRADED,
    the repository's loss unseen; the bundle's SHA256SUMS no longer match, so it is refused."""
    copy = tmp_path / "bundle"
    shutil.copytree(sealed, copy)
    baseline = copy / "baseline.json"
    data = json.loads(baseline.read_text())
    data["inventory"].pop(sorted(data["inventory"])[0])
    baseline.write_text(json.dumps(data))
    line = refused(tmp_path, *post_args(baseline))
    assert f"--baseline {baseline}: baseline.json changed since the preflight sealed" in line
    assert f"dtr-upgrade verify-bundle {copy}" in line
    assert "pass the baseline.json of its sealed preflight bundle, unchanged" in line


def test_a_baseline_without_its_sums_is_refused(tmp_path: Path, sealed: Path) -> None:
    """A baseline.json copied out of its bundle has nothing to show it is as recorded."""
    baseline = tmp_path / "baseline.json"
    shutil.copy(sealed / "baseline.json", baseline)
    line = refused(tmp_path, *post_args(baseline))
    assert f"--baseline {baseline}: no SHA256SUMS beside it" in line


def test_a_removed_preflight_proof_is_refused(tmp_path: Path, sealed: Path) -> None:
    """Post sorts its pull failures by preflight's proof beside the baseline: one removed
    from the bundle would make failures that were there before look new, or hide the sample."""
    copy = tmp_path / "bundle"
    shutil.copytree(sealed, copy)
    (copy / "data-proof-preflight.json").unlink()
    line = refused(tmp_path, *post_args(copy / "baseline.json"))
    assert "data-proof-preflight.json is listed in" in line
    assert "but missing" in line


@pytest.mark.parametrize(
    "content",
    [b"not json at all", b"{}", b"[]", b"\xff\xfe", None],
    ids=["not JSON", "empty object", "list", "not text", "a result.json"],
)
def test_a_malformed_baseline_is_a_usage_error(
    tmp_path: Path, sealed: Path, content: bytes | None
) -> None:
    """Such a file used to run a whole session and end VERIFY-FAILED; now it is refused at
    start, saying what a baseline is."""
    if content is None:  # another file of a sealed bundle: its sums verify, it is no baseline
        baseline = sealed / "result.json"
    else:
        baseline = tmp_path / "baseline.json"
        baseline.write_bytes(content)
    line = refused(tmp_path, *post_args(baseline))
    assert f"--baseline {baseline}: not " in line
    assert "a baseline is the cluster before the change" in line
    assert "baseline.json into its bundle: pass that file" in line


@pytest.mark.parametrize(
    "args", [[], ["--to-version=2.6.4"]], ids=["health check", "preflight and plan"]
)
def test_baseline_without_post_phase_is_refused_not_ignored(
    tmp_path: Path, sealed: Path, args: list[str]
) -> None:
    """Only --phase=post reads --baseline: another session given one used to ignore it."""
    line = refused(tmp_path, *args, f"--baseline={sealed / 'baseline.json'}")
    assert "--baseline is read only by --phase=post" in line
    assert "drop --baseline, or add --phase=post" in line
