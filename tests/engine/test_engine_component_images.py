"""PRE-COMPONENT-IMAGES on the real engine: the harness runs the target's bootstrapper image
with `images` (docker run --rm IMAGE images) and looks for every listed image in the lab's
registry, or with --offline on the engine that runs every replica (fidelity-review.md 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dtrlab.engine.images import publish
from dtrlab.engine.settings import EngineSettings
from tests.engine.support import TO_VERSION
from tests.lab.sessions import run_session


@pytest.fixture(scope="module")
def target_images(engine: EngineSettings, docker_client: Any) -> str:
    """The target's images built from this checkout's lab (its bootstrapper knows `images`)."""
    (published,) = publish(docker_client, engine, [TO_VERSION])
    return published.bootstrapper


@pytest.mark.parametrize("offline", [False, True])
def test_every_listed_image_is_found_for_every_replica(
    tmp_path: Path, session_env: dict[str, str], target_images: str, offline: bool
) -> None:
    run = run_session(
        tmp_path,
        "--lab-engine=docker",
        f"--to-version={TO_VERSION}",
        *(["--offline"] if offline else []),
        env=session_env,
    )
    (check,) = run.checks("PRE-COMPONENT-IMAGES")
    assert check["outcome"] == "passed", check
    registry = target_images.split("/", 1)[0]
    listed = check["evidence"]["images"][TO_VERSION]
    assert listed[0] == target_images
    assert f"{registry}/docker/dtr-registry:{TO_VERSION}" in listed
    where = {lookup["where"] for lookup in check["evidence"]["lookups"]}
    assert where == ({f"engine {session_env['DOCKER_HOST']}"} if offline else {"registry"})
