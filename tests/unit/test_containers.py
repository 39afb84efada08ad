"""Reading a replica's DTR containers from the Docker engine, with a fake docker SDK client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from upgrade.cluster.containers import (
    COMPOSE_PROJECT_LABEL,
    VERSION_LABEL,
    engine_configured,
    label_version,
    replica_containers,
)
from upgrade.errors import HarnessError

RID = "5eb9459a7832"


@dataclass
class FakeContainer:
    name: str
    status: str = "running"
    labels: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


class FakeContainers:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = containers
        self.filters: dict[str, str] = {}

    def list(self, all: bool, filters: dict[str, str]) -> list[FakeContainer]:
        self.filters = filters
        return [c for c in self.containers if filters["name"] in c.name]


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = FakeContainers(containers)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def container(name: str, version: str = "2.6.4", status: str = "running") -> FakeContainer:
    return FakeContainer(
        name,
        status,
        {VERSION_LABEL: version},
        {"Config": {"Image": f"docker/dtr-x:{version}"}},
    )


def test_the_replicas_containers_with_their_version_labels() -> None:
    client = FakeClient(
        [
            container(f"/lab-worker-1/dtr-nginx-{RID}"),
            container(f"dtr-notary-signer-{RID}", "2.5.11", "exited"),
            container("dtr-nginx-000000000001"),
            container(f"my-dtr-nginx-{RID}-copy"),
        ]
    )
    found = replica_containers(RID, lambda: client)
    assert [(c.service, c.version, c.status) for c in found] == [
        ("nginx", "2.6.4", "running"),
        ("notary-signer", "2.5.11", "exited"),
    ]
    assert client.closed


def test_without_the_version_label_the_compose_project_label_gives_it() -> None:
    """As launchpad's pkg/msr/msr.go CollectFacts reads it: the 4th word (fidelity-review 14)."""
    unlabelled = FakeContainer(
        f"dtr-rethinkdb-{RID}",
        labels={COMPOSE_PROJECT_LABEL: f"Docker Trusted Registry 2.5.11 (replica {RID})"},
        attrs={"Config": {"Image": "docker/dtr-rethink:2.5.11"}},
    )
    (found,) = replica_containers(RID, lambda: FakeClient([unlabelled]))
    assert found.version == "2.5.11"


def test_label_version_prefers_the_version_label_and_refuses_what_is_no_version() -> None:
    project = {COMPOSE_PROJECT_LABEL: "Docker Trusted Registry 2.5.11 (replica x)"}
    assert label_version({VERSION_LABEL: "2.6.4", **project}) == "2.6.4"
    assert label_version({COMPOSE_PROJECT_LABEL: "dtr"}) == ""
    assert label_version({COMPOSE_PROJECT_LABEL: "a b c not-a-version d"}) == ""
    assert label_version({}) == ""


def test_an_unreachable_engine_is_one_line_naming_the_variables() -> None:
    def broken() -> FakeClient:
        raise ConnectionError("Error while fetching server API version\nmore detail")

    with pytest.raises(HarnessError, match="check DOCKER_HOST, DOCKER_TLS_VERIFY"):
        replica_containers(RID, broken)


def test_engine_configured_reads_docker_host() -> None:
    assert engine_configured({"DOCKER_HOST": "tcp://ucp.example.com:443"})
    assert not engine_configured({})
