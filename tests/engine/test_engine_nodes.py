"""testinfra against the engine's real containers and this machine: the node facts the
preflight checks read, and what a replica's container holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import testinfra

from dtrlab.engine.lab import EngineLab
from dtrlab.engine.settings import EngineSettings
from tests.engine.support import FROM_VERSION
from upgrade.cluster.nodes import NodeUnreachable, bootstrapper_node, gather


@pytest.fixture
def engine_env(engine: EngineSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """testinfra's docker backend runs the docker CLI, which finds the engine by DOCKER_HOST."""
    monkeypatch.setenv("DOCKER_HOST", engine.docker_host)


@pytest.mark.usefixtures("engine_env")
def test_this_machine_through_the_local_backend(engine: EngineSettings) -> None:
    facts = gather("local://")
    assert facts.mem_available_bytes > 0
    assert facts.mem_total_bytes >= facts.mem_available_bytes  # RAM, as PRE-NODE-MEMORY reads it
    assert facts.disk_free_bytes > 0
    assert facts.engine_version is not None
    assert facts.engine_version[0].isdigit()
    assert abs(facts.clock_offset_s) < 5


@pytest.mark.usefixtures("engine_env")
def test_a_replica_container_through_the_docker_backend(
    make_engine_lab: Callable[..., EngineLab], docker_client: Any
) -> None:
    lab = make_engine_lab(replicas=1)
    (replica,) = lab.replica_urls
    name = f"dtr-nginx-{replica}"
    facts = gather(f"docker://{name}")
    assert facts.hostname == name
    assert facts.engine_version is None  # no engine inside a replica's container
    host = testinfra.get_host(f"docker://dtr-api-{replica}")
    assert host.check_output("printenv DTR_VERSION") == FROM_VERSION
    assert host.file("/opt/dtrlab/dtrlab/bootstrapper.py").is_file

    docker_client.containers.get(name).stop()
    with pytest.raises(NodeUnreachable, match=f"docker://{name}"):
        gather(f"docker://{name}")


@pytest.mark.usefixtures("engine_env")
def test_the_bootstrapper_node_is_the_engines_own(engine: EngineSettings) -> None:
    """A single engine runs the bootstrapper on its own node (`docker info` Name), which is this
    machine for the lab's dockerd: PRE-NODE-MEMORY measures `local://` (fidelity-review.md 4)."""
    import docker

    where = bootstrapper_node(True, lambda: docker.DockerClient(base_url=engine.docker_host))
    assert where.name is not None
    assert where.is_node(gather("local://").hostname)
    assert engine.docker_host in where.how
