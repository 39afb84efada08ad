"""Fixtures of the engine tier: the real Docker engine and distribution registry on this machine.

The tier needs `scripts/engine-up` to have run (dockerd, the registry on 127.0.0.1:5000 and the
lab's images). Without them every test here skips with that instruction, except under CI=1,
where a missing engine fails the suite instead: CI installs and starts it.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from dtrlab import LabConfig
from dtrlab.engine import daemon
from dtrlab.engine.lab import EngineLab
from dtrlab.engine.settings import EngineSettings
from tests.engine.support import FROM_VERSION, TO_VERSION

FAST = {"job_time": 0.05, "swap_time": 0.3}


def _missing(reason: str) -> None:
    text = f"{reason}; run scripts/engine-up (as root) to start the engine tier"
    if os.environ.get("CI") == "1":
        pytest.fail(f"CI=1 and the engine tier is missing: {text}", pytrace=False)
    pytest.skip(text)


def _manifest_present(settings: EngineSettings, version: str) -> bool:
    request = urllib.request.Request(
        f"http://{settings.registry}/v2/docker/dtr/manifests/{version}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def engine() -> EngineSettings:
    """The engine tier's settings, once the engine, the registry and the images answer."""
    settings = EngineSettings.from_env()
    if daemon.engine_version(settings.docker_host) is None:
        _missing(f"no Docker engine answers at {settings.docker_host}")
    if not daemon.registry_answers(settings.registry):
        _missing(f"no distribution registry answers at http://{settings.registry}/v2/")
    for version in (FROM_VERSION, TO_VERSION):
        if not _manifest_present(settings, version):
            _missing(f"the registry has no {settings.bootstrapper_image(version)}")
    return settings


@pytest.fixture(scope="session")
def docker_client(engine: EngineSettings) -> Iterator[Any]:
    """A docker SDK client of the engine."""
    client = docker.DockerClient(base_url=engine.docker_host, timeout=120)
    yield client
    client.close()


@pytest.fixture
def client_factory(engine: EngineSettings) -> Callable[[], Any]:
    """What DockerExecutor calls to reach the engine (as docker.from_env would)."""
    return lambda: docker.DockerClient(base_url=engine.docker_host, timeout=120)


@pytest.fixture
def make_engine_lab(engine: EngineSettings) -> Iterator[Callable[..., EngineLab]]:
    """Start engine labs with fast swaps (overridable); each is closed, its containers removed."""
    labs: list[EngineLab] = []

    def factory(**overrides: Any) -> EngineLab:
        lab = EngineLab(LabConfig(**{**FAST, **overrides}), engine).start()
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        lab.close()


@pytest.fixture
def session_env(engine: EngineSettings) -> dict[str, str]:
    """The environment a harness session on the engine needs."""
    return {"DOCKER_HOST": engine.docker_host, "DTRLAB_REGISTRY": engine.registry}
