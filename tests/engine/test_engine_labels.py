"""A release whose containers lack `com.docker.dtr.version`: the harness reads the version from
`com.docker.compose.project`, as launchpad's pkg/msr/msr.go does (fidelity-review.md 14)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dtrlab.engine.lab import EngineLab
from tests.engine.support import FROM_VERSION, TO_VERSION
from tests.lab.sessions import run_session
from upgrade.cluster.containers import VERSION_LABEL, replica_containers


def test_containers_without_the_version_label_still_give_their_version(
    make_engine_lab: Callable[..., EngineLab], client_factory: Callable[[], Any], docker_client: Any
) -> None:
    lab = make_engine_lab(replicas=1, scenarios=("no-version-label",))
    (replica,) = lab.replica_urls
    assert docker_client.containers.get(f"dtr-api-{replica}").labels[VERSION_LABEL] == ""
    found = replica_containers(replica, client_factory)
    assert found
    assert {state.version for state in found} == {FROM_VERSION}


def test_an_upgrade_of_unlabelled_containers_is_upgraded(
    tmp_path: Path, session_env: dict[str, str]
) -> None:
    run = run_session(
        tmp_path,
        "--lab-engine=docker",
        f"--to-version={TO_VERSION}",
        "--apply",
        "--lab-scenario=no-version-label",
        env=session_env,
    )
    assert run.result["verdict"] == "UPGRADED", run.output
    checks = run.checks("POST-REPLICA-CONTAINERS")
    assert checks
    assert all(check["outcome"] == "passed" for check in checks), checks
