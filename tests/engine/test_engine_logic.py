"""The engine tier's logic without an engine: settings, image recipes, the registry's
configuration and the replica containers' reconciliation against a fake docker client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from dtrlab import Lab, LabConfig
from dtrlab.component_images import SERVICES, services_for
from dtrlab.engine import cli, daemon
from dtrlab.engine.images import version_dockerfile
from dtrlab.engine.replicas import ReplicaContainers, container_name
from dtrlab.engine.settings import (
    REPLICA_LABEL,
    VERSION_LABEL,
    EngineError,
    EngineSettings,
)


class FakeContainer:
    def __init__(self, container_id: str) -> None:
        self.id = container_id


class FakeDocker:
    """The parts of docker.DockerClient the replica containers use, recording every call."""

    def __init__(self, fail_run: bool = False) -> None:
        self.running: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []
        self.pulled: list[str] = []
        self.present: set[str] = set()
        self.fail_run = fail_run
        self._ids = itertools.count(1)
        self.api = self
        self.images = self
        self.containers = self

    # images
    def get(self, reference: str) -> object:
        if reference not in self.present:
            raise docker.errors.ImageNotFound(reference)
        return object()

    def pull(self, repository: str, tag: str) -> object:
        self.pulled.append(f"{repository}:{tag}")
        self.present.add(f"{repository}:{tag}")
        return object()

    # containers
    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        if self.fail_run:
            raise docker.errors.APIError("no space left on device")
        container_id = f"{next(self._ids):064x}"
        self.running[container_id] = {"image": image, **kwargs}
        return FakeContainer(container_id)

    def remove_container(self, container: str, force: bool = False) -> None:
        assert force
        if container in self.running:
            del self.running[container]
            self.removed.append(container)
            return
        if not any(c["name"] == container for c in self.running.values()):
            raise docker.errors.NotFound(container)


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab that is built but not started: its cluster state is all the watcher reads."""
    built = Lab(LabConfig(replicas=2))
    yield built
    built.close()


SETTINGS = EngineSettings(registry="127.0.0.1:5999")


def test_settings_read_the_environment() -> None:
    settings = EngineSettings.from_env(
        {"DOCKER_HOST": "tcp://10.0.0.5:2376", "DTRLAB_REGISTRY": "reg:5000", "DTRLAB_CACHE": "/c"}
    )
    assert settings.registry == "reg:5000"
    assert settings.cache == Path("/c")
    assert settings.socket_path is None
    assert settings.bootstrapper_image("2.6.4") == "reg:5000/docker/dtr:2.6.4"
    assert settings.service_image("nginx", "2.6.4") == "reg:5000/docker/dtr-nginx:2.6.4"
    assert EngineSettings.from_env({}).socket_path == Path("/run/dtrlab-docker.sock")


def test_a_remote_engine_cannot_be_started() -> None:
    with pytest.raises(EngineError, match="not a unix socket"):
        daemon.dockerd_argv(EngineSettings(docker_host="tcp://10.0.0.5:2376"))


def test_services_follow_the_release() -> None:
    assert "scanningstore" not in services_for("2.5.11")
    assert services_for("2.6.4") == SERVICES
    assert container_name("nginx", "0123456789ab") == "dtr-nginx-0123456789ab"


def test_version_image_recipe() -> None:
    dockerfile = version_dockerfile("dtrlab/app:abc", "2.6.4")
    assert dockerfile.startswith("FROM dtrlab/app:abc\n")
    assert f'{VERSION_LABEL}="2.6.4"' in dockerfile
    assert "ENV DTR_VERSION=2.6.4" in dockerfile
    assert '"dtrlab.bootstrapper", "--image-version", "2.6.4"]' in dockerfile


def test_registry_listens_where_configured(tmp_path: Path) -> None:
    config = daemon.registry_config(EngineSettings(registry="127.0.0.1:5999", state=tmp_path))
    assert "addr: 127.0.0.1:5999" in config
    assert f"rootdirectory: {tmp_path / 'registry' / 'data'}" in config
    assert "delete:\n    enabled: true" in config


def test_status_without_an_engine_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    monkeypatch.setenv("DTRLAB_REGISTRY", "127.0.0.1:1")
    assert cli.main(["status"]) == 1
    assert "not answering" in capsys.readouterr().out


def test_replicas_start_with_labelled_containers(lab: Lab) -> None:
    client = FakeDocker()
    watcher = ReplicaContainers(client, SETTINGS, lab.cluster, "lab-1")
    watcher.sync()
    assert len(client.running) == 2 * len(services_for("2.5.11"))
    assert client.pulled  # the service images were not on the engine: pulled from the registry
    for spec in client.running.values():
        replica = spec["labels"][REPLICA_LABEL]
        assert spec["labels"][VERSION_LABEL] == "2.5.11"
        assert spec["environment"]["DTR_VERSION"] == "2.5.11"
        assert spec["name"].endswith(f"-{replica}")
        assert spec["image"].startswith("127.0.0.1:5999/docker/dtr-")
    history = watcher.history()
    assert [r.from_version for r in history] == [None, None]


def test_a_swap_removes_then_replaces_one_replicas_containers(lab: Lab) -> None:
    client = FakeDocker()
    watcher = ReplicaContainers(client, SETTINGS, lab.cluster, "lab-1")
    watcher.sync()
    first, second = lab.cluster.replica_list()
    old_ids = {r.id for r in watcher.current()[first.id]}

    first.state = "swapping"
    watcher.sync()
    assert first.id not in watcher.current()
    assert old_ids <= set(client.removed)
    assert second.id in watcher.current()

    first.version, first.state = "2.6.4", "running"
    watcher.sync()
    new = watcher.current()[first.id]
    assert {r.version for r in new} == {"2.6.4"}
    assert len(new) == len(SERVICES)
    replacement = watcher.history()[-1]
    assert replacement.replica == first.id
    assert (replacement.from_version, replacement.to_version) == ("2.5.11", "2.6.4")
    assert {r.id for r in replacement.old} == old_ids
    assert replacement.removed_at is not None
    assert replacement.removed_at <= replacement.created_at
    assert {r.version for r in watcher.current()[second.id]} == {"2.5.11"}
    watcher.sync()
    assert len(watcher.history()) == 3  # nothing changed: nothing replaced

    watcher.close()
    assert client.running == {}
    watcher.sync()
    assert client.running == {}  # a closed watcher creates nothing


def test_a_version_change_seen_without_the_swap_still_replaces(lab: Lab) -> None:
    client = FakeDocker()
    watcher = ReplicaContainers(client, SETTINGS, lab.cluster, "lab-1")
    watcher.sync()
    replica = lab.cluster.replica_list()[0]
    replica.version = "2.6.4"
    watcher.sync()
    replacement = watcher.history()[-1]
    assert replacement.from_version == "2.5.11"
    assert len(replacement.old) == len(services_for("2.5.11"))


def test_an_engine_refusal_is_kept_and_fails_the_start(lab: Lab) -> None:
    watcher = ReplicaContainers(FakeDocker(fail_run=True), SETTINGS, lab.cluster, "lab-1")
    with pytest.raises(EngineError, match="no space left on device"):
        watcher.start()
    assert len(watcher.errors) == 2
    assert watcher.evidence()["errors"] == watcher.errors
