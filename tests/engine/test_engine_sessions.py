"""Whole harness sessions with --lab-engine=docker: the upgrade pulled and run on the real
engine ends UPGRADED with its engine evidence, resumes after a crash, and a replica container
stopped by hand fails the post check that reads the containers."""

from __future__ import annotations

from pathlib import Path

from tests.engine.support import FROM_VERSION, TO_VERSION
from tests.lab.sessions import Session, run_session

ARGS = (
    "--lab-engine=docker",
    f"--to-version={TO_VERSION}",
    "--apply",
    "--hosts=local://",
    # The nodes' thresholds are the guide's production ones; this machine is the lab.
    "--min-free-memory-gb=0.5",
    "--min-free-disk-gb=0.5",
)

# Stops one replica's nginx container by hand just before the container check reads it.
STOPPER = """
import os

import docker

stopped = []


def pytest_runtest_setup(item):
    if item.originalname != "test_replica_containers_on_target_version" or stopped:
        return
    replica = item.callspec.params["replica"]
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
    try:
        client.containers.get(f"dtr-nginx-{replica}").stop()
    finally:
        client.close()
    stopped.append(replica)
"""


def engine_session(tmp_path: Path, env: dict[str, str], *args: str) -> Session:
    return run_session(tmp_path, *ARGS, *args, env=env)


def test_upgrade_on_the_engine_is_upgraded(tmp_path: Path, session_env: dict[str, str]) -> None:
    run = engine_session(tmp_path, session_env)
    assert run.status == 0, run.output
    assert run.last_line.startswith("VERDICT: UPGRADED"), run.output
    result = run.result
    assert result["from_version"] == FROM_VERSION
    upgrade = result["upgrade"]
    assert upgrade["image"].endswith(f"/docker/dtr:{TO_VERSION}")
    assert upgrade["image_digest"].startswith("sha256:")
    assert upgrade["image_digest_source"] == "registry"
    engine = result["engine"]
    assert engine["errors"] == []
    replaced = [r for r in engine["replacements"] if r["from_version"] == FROM_VERSION]
    assert len(replaced) == 3
    for replacement in replaced:
        assert replacement["to_version"] == TO_VERSION
        old = {c["id"] for c in replacement["old"]}
        new = {c["id"] for c in replacement["new"]}
        assert old
        assert new
        assert not old & new
        assert all(c["image"].endswith(f":{TO_VERSION}") for c in replacement["new"])
    assert result["availability"]
    (image_check,) = run.checks("PRE-IMAGE-AVAILABLE")
    assert image_check["outcome"] == "passed"
    assert image_check["evidence"]["images"][0]["where"] == "registry"
    assert image_check["evidence"]["images"][0]["digest"] == upgrade["image_digest"]
    containers = run.checks("POST-REPLICA-CONTAINERS")
    assert len(containers) == 3
    assert {c["outcome"] for c in containers} == {"passed"}
    for check_id in ("PRE-NODE-MEMORY", "PRE-NODE-DISK", "PRE-NODE-ENGINE", "PRE-NODE-CLOCK"):
        assert {c["outcome"] for c in run.checks(check_id)} == {"passed"}, check_id


def test_a_crashed_upgrade_resumes_on_the_engine(
    tmp_path: Path, session_env: dict[str, str]
) -> None:
    run = engine_session(tmp_path, session_env, "--lab-scenario=upgrade-crash")
    assert run.status == 0, run.output
    assert run.last_line.startswith("VERDICT: UPGRADED"), run.output
    assert "attempt 2/" in run.output
    assert {r["to_version"] for r in run.result["engine"]["replacements"]} >= {TO_VERSION}


def test_a_container_stopped_by_hand_fails_the_post_check(
    tmp_path: Path, session_env: dict[str, str]
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "stop_replica_container.py").write_text(STOPPER, encoding="utf-8")
    env = {**session_env, "PYTHONPATH": str(plugins)}
    run = engine_session(tmp_path, env, "-p", "stop_replica_container")
    assert run.status != 0, run.output
    assert not run.last_line.startswith("VERDICT: UPGRADED"), run.output
    assert run.failed_ids() == {"POST-REPLICA-CONTAINERS"}, run.output
    failed = [c for c in run.checks("POST-REPLICA-CONTAINERS") if c["outcome"] == "failed"]
    assert len(failed) == 1
    assert "dtr-nginx-" in str(failed[0])
    assert "exited" in str(failed[0])
