"""The bootstrapper image: which one a version needs, and whether it can be had, read-only.

The guide's step 2 pulls `<org>/dtr:<version>` before running `upgrade`; offline nodes need the
images loaded first. Preflight asks the registry for the image's manifest through the Docker
engine (nothing is pulled), or with `--offline` checks the image is present on the engine and on
every `--hosts` node.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import docker
import requests
import testinfra

from upgrade.cluster.containers import DEFAULT_DOCKER_HOST, engine_client
from upgrade.errors import HarnessError, one_line
from upgrade.procedure.bootstrapper import BootstrapperImageMissing, DockerEngineUnreachable
from upgrade.rules.catalog import Catalog
from upgrade.rules.versions import Version


def bootstrapper_image(version: Version, catalog: Catalog, override: str | None = None) -> str:
    """`--dtr-image REPOSITORY:<version>`, else the catalogue's image for the version."""
    if override:
        return f"{override}:{version}"
    return catalog.image_for(version)


@dataclass(frozen=True)
class ImageFound:
    """Where an image was found and its identity there."""

    image: str
    where: str
    digest: str


def _engine() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _client(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None


def in_registry(image: str, factory: Callable[[], Any] = engine_client) -> ImageFound:
    """Ask the image's registry, through the engine, for its manifest digest (no pull)."""
    client = _client(factory)
    try:
        data = client.images.get_registry_data(image)
    except docker.errors.NotFound:
        raise HarnessError(
            f"the registry has no {image}: check the version and the repository "
            "(--dtr-image), or `docker login` to the registry"
        ) from None
    except docker.errors.APIError as exc:
        raise HarnessError(
            f"the engine at {_engine()} could not read {image} from its registry "
            f"({one_line(str(exc.explanation or exc))}); check the engine's internet access or "
            "load the image and use --offline"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None
    finally:
        client.close()
    return ImageFound(image, "registry", str(data.id))


def on_engine(image: str, factory: Callable[[], Any] = engine_client) -> ImageFound:
    """The image as the engine has it; `BootstrapperImageMissing` when it is not loaded."""
    client = _client(factory)
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise BootstrapperImageMissing(image, _engine()) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None
    finally:
        client.close()
    return ImageFound(image, f"engine {_engine()}", str(found.id))


def on_host(spec: str, image: str, get_host: Any = None) -> ImageFound:
    """The image on one `--hosts` node (testinfra runs `docker image inspect` there)."""
    host = (get_host or testinfra.get_host)(spec)
    result = host.run("docker image inspect --format %s %s", "{{.Id}}", image)
    if result.rc != 0:
        raise HarnessError(
            f"{image} is not loaded on {spec} (`docker image inspect` exited {result.rc}); load "
            "it there with `docker load` before an offline upgrade"
        )
    return ImageFound(image, spec, result.stdout.strip())
