"""A --phase=post session judges the cluster its --baseline was taken from, and refuses a
baseline of another cluster (another DTR's replica IDs) instead of comparing against it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.lab.sessions import Session, run_session

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
