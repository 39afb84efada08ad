"""The component images of a version: the bootstrapper's `images` output read as launchpad
reads it (image references separated by white space, pull_msr_images.go), and where each image
is looked for on a replica's node."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from upgrade.cluster import images
from upgrade.cluster.images import EngineComponentImages, ImageLookup, parse_image_list


def test_the_images_output_is_read_as_references() -> None:
    text = (
        'time="2026-12-02T01:00:00Z" level=info msg="listing"\n'
        "docker/dtr:2.6.4\n  127.0.0.1:5000/docker/dtr-api:2.6.4 docker/dtr-nginx:2.6.4\n"
        "docker/dtr:2.6.4\nnot-an-image\n"
    )
    assert parse_image_list(text) == [
        "docker/dtr:2.6.4",
        "127.0.0.1:5000/docker/dtr-api:2.6.4",
        "docker/dtr-nginx:2.6.4",
    ]


def offline(hostnames: dict[str, str], engine: str | None) -> EngineComponentImages:
    return EngineComponentImages(
        lambda v: f"docker/dtr:{v}", True, lambda: hostnames, lambda: engine
    )


def test_offline_a_node_is_looked_for_on_its_hosts_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str]] = []

    def on_host(spec: str, image: str, get_host: Any = None) -> ImageLookup:
        asked.append((spec, image))
        return ImageLookup(image, spec, "sha256:1")

    monkeypatch.setattr(images, "on_host", on_host)
    found = offline({"ssh://10.0.0.2": "worker-2.example.com"}, None).look_up(
        "docker/dtr-api:2.6.4", "worker-2"
    )
    assert found.found
    assert asked == [("ssh://10.0.0.2", "docker/dtr-api:2.6.4")]


def test_offline_the_engine_answers_for_its_own_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "on_engine", lambda image: ImageLookup(image, "engine", "x"))
    assert offline({}, "worker-1").look_up("docker/dtr-api:2.6.4", "worker-1").found


def test_offline_a_node_that_cannot_be_reached_is_named_with_the_fix() -> None:
    found = offline({"ssh://a": "worker-1"}, "worker-1").look_up("docker/dtr-api:2.6.4", "worker-3")
    assert not found.found
    assert "node worker-3 runs a replica" in str(found.problem)
    assert "add the node to --hosts (e.g. ssh://worker-3)" in str(found.problem)


def test_online_each_image_is_asked_of_its_registry_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def in_registry(image: str, factory: Any = None) -> ImageLookup:
        asked.append(image)
        return ImageLookup(image, "registry", "sha256:2")

    monkeypatch.setattr(images, "in_registry", in_registry)
    online = EngineComponentImages(lambda v: f"docker/dtr:{v}", False, dict, lambda: None)
    for node in ("worker-1", "worker-2"):
        assert online.look_up("docker/dtr-api:2.6.4", node).found
    assert asked == ["docker/dtr-api:2.6.4"]


class Containers:
    def __init__(self, output: bytes) -> None:
        self.output = output
        self.ran: dict[str, Any] = {}

    def run(self, image: str, **kwargs: Any) -> bytes:
        self.ran = {"image": image, **kwargs}
        return self.output


def test_the_list_comes_from_the_bootstrapper_run_on_the_engine() -> None:
    containers = Containers(b"docker/dtr:2.6.4\ndocker/dtr-api:2.6.4\n")
    client = SimpleNamespace(
        images=SimpleNamespace(get=lambda image: object()),
        containers=containers,
        close=lambda: None,
    )
    listed = images.listed_by_engine("docker/dtr:2.6.4", lambda: client)
    assert listed == ["docker/dtr:2.6.4", "docker/dtr-api:2.6.4"]
    assert containers.ran["command"] == ["images"]
    assert containers.ran["remove"] is True
    assert containers.ran["network_mode"] == "none"


def test_an_unpulled_bootstrapper_cannot_be_listed_and_says_so() -> None:
    def absent(image: str) -> Any:
        raise images.docker.errors.ImageNotFound(image)

    client = SimpleNamespace(images=SimpleNamespace(get=absent), close=lambda: None)
    with pytest.raises(
        images.BootstrapperNotLocal, match=re.escape("docker pull docker/dtr:2.6.4")
    ):
        images.listed_by_engine("docker/dtr:2.6.4", lambda: client)
