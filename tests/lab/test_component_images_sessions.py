"""PRE-COMPONENT-IMAGES: every image the target's bootstrapper lists with `images`
(reference/dtr/2.7/cli/images.md) on every node that runs a replica, not only the bootstrapper
(fidelity-review.md 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dtrlab import cli, component_images
from tests.lab.sessions import ROOT, SESSION_TIMEOUT_S, run_session, session_argv
from upgrade.cluster import containers


def test_the_lab_bootstrapper_lists_its_images() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dtrlab.bootstrapper", "--image-version", "2.6.4", "images"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = done.stdout.split()
    assert listed[0] == "docker/dtr:2.6.4"
    assert "docker/dtr-registry:2.6.4" in listed
    assert "docker/dtr-scanningstore:2.6.4" in listed
    # RethinkDB's container is dtr-rethinkdb-<rid>, its image dtr-rethink.
    assert "docker/dtr-rethink:2.6.4" in listed
    assert "docker/dtr-rethinkdb:2.6.4" not in listed
    assert len(listed) == 10


def test_the_lab_runs_the_services_the_harness_expects() -> None:
    # The lab's bootstrapper image carries dtrlab alone, so the lab keeps its own list; it must
    # be the harness's (upgrade.cluster.containers), or POST-REPLICA-SERVICES would judge a lab
    # that is not DTR's.
    assert component_images.SERVICES == containers.EXPECTED_SERVICES


def test_every_listed_image_on_every_replica_node_is_go(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4")
    (check,) = run.checks("PRE-COMPONENT-IMAGES")
    assert check["outcome"] == "passed", check
    assert len(check["evidence"]["images"]["2.6.4"]) == 10
    nodes = set(check["evidence"]["replica_nodes"].values())
    assert len(check["evidence"]["lookups"]) == 10 * len(nodes) == 30


def test_an_image_missing_on_one_node_is_no_go_naming_node_and_image(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=image-missing-on-node")
    assert run.result["verdict"] == "NO-GO", run.output
    (check,) = run.checks("PRE-COMPONENT-IMAGES")
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "docker/dtr-registry:2.6.4 is not on node lab-worker-2, which runs a replica"
    ), check["message"]
    assert "lab-worker-1" not in check["message"]
    assert "PRE-COMPONENT-IMAGES" in run.last_line


def test_the_engine_lab_refuses_a_node_without_an_image(tmp_path: Path) -> None:
    # One engine runs every node of the engine lab: no node can lack what another holds, so
    # the scenario would end GO there; it is a usage error instead, with and without --offline.
    for offline in ([], ["--offline"]):
        run = subprocess.run(
            session_argv(
                tmp_path / "reports",
                "--lab-engine=docker",
                "--to-version=2.6.4",
                "--lab-scenario=image-missing-on-node",
                *offline,
            ),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SESSION_TIMEOUT_S,
            check=False,
        )
        assert run.returncode == 4, run.stdout + run.stderr
        assert (
            "--lab-scenario with --lab-engine=docker: image-missing-on-node runs on the process "
            "lab only: the engine lab runs every node's containers on one Docker engine"
        ) in run.stderr, run.stderr
        assert not (tmp_path / "reports").exists()


def test_the_lab_command_refuses_it_on_the_engine_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--engine", "docker", "--scenario", "image-missing-on-node"]) == 2
    assert "image-missing-on-node runs on the process lab only" in capsys.readouterr().err
