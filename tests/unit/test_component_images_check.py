"""PRE-COMPONENT-IMAGES when the engine cannot list a hop's images (its bootstrapper image is
not on the engine and preflight pulls nothing): a check that looked for no image did not pass.
Offline that fails, as the guide wants the images on every node; online it is skipped as not
proven, naming how to prove it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from upgrade.cluster.images import BootstrapperNotLocal, ImageLookup
from upgrade.evidence.records import CheckRecord
from upgrade.rules.versions import Version

image_checks = importlib.import_module("checks.test_preflight_image")
NOT_LOCAL = (
    "the bootstrapper image docker/dtr:2.7.0 is not on the engine at unix:///x, so its `images` "
    "list cannot be read without pulling it: `docker pull docker/dtr:2.7.0` (or load it) first"
)


@dataclass
class FakeImages:
    """2.7.0's bootstrapper is not on the engine; every other hop lists two images, and node
    worker-2 lacks `missing`."""

    missing: str = ""
    asked: list[tuple[str, str]] = field(default_factory=list)

    def listed(self, version: Version) -> list[str]:
        if str(version) == "2.7.0":
            raise BootstrapperNotLocal(NOT_LOCAL)
        return [f"docker/dtr:{version}", f"docker/dtr-api:{version}"]

    def look_up(self, image: str, node: str) -> ImageLookup:
        self.asked.append((image, node))
        if node == "worker-2" and image == self.missing:
            return ImageLookup(image, node, "", f"{image} is not on node {node}")
        return ImageLookup(image, node, "sha256:1")


def run_check(path: list[str], *, offline: bool, images: FakeImages, record: CheckRecord) -> None:
    replicas = [
        SimpleNamespace(replica_id="aaaaaaaaaaaa", node="worker-1"),
        SimpleNamespace(replica_id="bbbbbbbbbbbb", node="worker-2"),
    ]
    target: Any = SimpleNamespace(
        dtr=lambda: SimpleNamespace(settings=lambda: SimpleNamespace(replicas=replicas))
    )
    image_checks.test_component_images_on_every_replica_node(
        SimpleNamespace(path=[Version.parse(v) for v in path]),
        SimpleNamespace(component_images=lambda catalog, hostnames: images),
        None,
        SimpleNamespace(),
        SimpleNamespace(offline=offline, hosts=()),
        target,
        record,
    )


def new_record() -> CheckRecord:
    return CheckRecord("n", "PRE-COMPONENT-IMAGES", "preflight", "")


def test_online_nothing_listed_is_skipped_as_not_proven() -> None:
    images, record = FakeImages(), new_record()
    with pytest.raises(pytest.skip.Exception) as skipped:
        run_check(["2.6.4", "2.7.0"], offline=False, images=images, record=record)
    reason = str(skipped.value)
    assert reason.startswith(
        "not proven: the images of 2.7.0 were not listed, so none was looked for on the "
        "replicas' nodes: the bootstrapper image docker/dtr:2.7.0 is not on the engine"
    ), reason
    assert "`docker pull docker/dtr:2.7.0`" in reason
    assert reason.endswith("then run preflight again")
    assert images.asked == []
    assert record.evidence["images"] == {}
    assert record.evidence["unlisted"] == {"2.7.0": NOT_LOCAL}


def test_offline_nothing_listed_fails_before_looking() -> None:
    images = FakeImages()
    with pytest.raises(AssertionError) as failed:
        run_check(["2.6.4", "2.7.0"], offline=True, images=images, record=new_record())
    message = str(failed.value).splitlines()[0]
    assert message.startswith(
        "with --offline every replica's node needs each image the bootstrapper lists, and the "
        "images of 2.7.0 could not be listed: the bootstrapper image docker/dtr:2.7.0"
    ), message
    assert images.asked == []


def test_a_listed_hop_missing_an_image_still_fails_beside_an_unlisted_one() -> None:
    # 2.6.4 is listed and looked for; 2.7.0 cannot be: the finding about 2.6.4 wins.
    images, record = FakeImages(missing="docker/dtr-api:2.6.4"), new_record()
    with pytest.raises(AssertionError) as failed:
        run_check(["2.5.11", "2.6.4", "2.7.0"], offline=False, images=images, record=record)
    assert str(failed.value).startswith("docker/dtr-api:2.6.4 is not on node worker-2")
    assert record.evidence["unlisted"] == {"2.7.0": NOT_LOCAL}


def test_every_hop_listed_and_found_passes() -> None:
    images, record = FakeImages(), new_record()
    run_check(["2.5.11", "2.6.4"], offline=False, images=images, record=record)
    assert record.evidence["unlisted"] == {}
    assert len(record.evidence["lookups"]) == 2 * 2
