"""PRE-NO-UPGRADE-RUNNING on the real engine: a bootstrapper container running `upgrade` for
the session's UCP makes preflight NO-GO; one for another UCP does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dtrlab.engine.settings import EngineSettings
from tests.engine.support import TO_VERSION
from tests.lab.sessions import Session, run_session

ID = "PRE-NO-UPGRADE-RUNNING"
LABEL = "com.docker.dtr.upgrade-harness.test"

# Starts a container of the lab's bootstrapper image that runs `upgrade` (its entrypoint only
# sleeps, so nothing is changed) just before the check looks, and removes it afterwards.
STARTER = """
import os

import docker


def _client():
    return docker.DockerClient(base_url=os.environ["DOCKER_HOST"])


def pytest_runtest_call(item):
    if item.originalname != "test_no_upgrade_running":
        return
    ucp = os.environ.get("FAKE_UPGRADE_UCP") or item.funcargs["target"].ucp_url()
    client = _client()
    try:
        client.containers.run(
            os.environ["FAKE_UPGRADE_IMAGE"],
            entrypoint=["python3", "-c", "import time; time.sleep(120)"],
            command=["upgrade", "--ucp-url", ucp, "--ucp-username", "admin"],
            labels={os.environ["FAKE_UPGRADE_LABEL"]: "1"},
            detach=True,
        )
    finally:
        client.close()


def pytest_runtest_teardown(item):
    if item.originalname != "test_no_upgrade_running":
        return
    client = _client()
    try:
        for container in client.containers.list(
            all=True, filters={"label": os.environ["FAKE_UPGRADE_LABEL"]}
        ):
            container.remove(force=True)
    finally:
        client.close()
"""


@pytest.fixture
def starter_env(
    tmp_path: Path, engine: EngineSettings, session_env: dict[str, str], docker_client: Any
) -> Iterator[dict[str, str]]:
    """The session environment with the starter plugin; leftovers are removed afterwards."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "start_fake_upgrade.py").write_text(STARTER, encoding="utf-8")
    yield {
        **session_env,
        "PYTHONPATH": str(plugins),
        "FAKE_UPGRADE_IMAGE": engine.bootstrapper_image(TO_VERSION),
        "FAKE_UPGRADE_LABEL": LABEL,
    }
    for container in docker_client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True)


def preflight(tmp_path: Path, env: dict[str, str]) -> Session:
    return run_session(
        tmp_path,
        "--lab-engine=docker",
        f"--to-version={TO_VERSION}",
        "-p",
        "start_fake_upgrade",
        env=env,
    )


def test_a_running_upgrade_for_this_ucp_is_no_go(
    tmp_path: Path, starter_env: dict[str, str]
) -> None:
    run = preflight(tmp_path, starter_env)
    assert run.status == 1, run.output
    assert run.result["verdict"] == "NO-GO", run.output
    assert run.failed_ids() == {ID}, run.output
    (check,) = run.checks(ID)
    assert check["message"].startswith("another upgrade of this cluster is running: ")
    assert f"/docker/dtr:{TO_VERSION}, `upgrade` for UCP https://127.0.0.1:" in check["message"]
    assert check["evidence"]["engine_version"]


def test_a_running_upgrade_for_another_ucp_is_noted(
    tmp_path: Path, starter_env: dict[str, str]
) -> None:
    env = {**starter_env, "FAKE_UPGRADE_UCP": "https://ucp.other.example.com"}
    run = preflight(tmp_path, env)
    assert run.status == 0, run.output
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks(ID)
    assert check["outcome"] == "passed"
    assert any("upgrades another cluster" in note for note in check["notes"]), check
