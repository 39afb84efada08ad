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
from typing import Any, Protocol

import docker
import requests
import testinfra

from upgrade.cluster.containers import DEFAULT_DOCKER_HOST, engine_client
from upgrade.errors import one_line
from upgrade.procedure.bootstrapper import BootstrapperImageMissing, DockerEngineUnreachable
from upgrade.rules.catalog import Catalog
from upgrade.rules.versions import Version


def bootstrapper_image(version: Version, catalog: Catalog, override: str | None = None) -> str:
    """`--dtr-image REPOSITORY:<version>`, else the catalogue's image for the version."""
    if override:
        return f"{override}:{version}"
    return catalog.image_for(version)


@dataclass(frozen=True)
class ImageLookup:
    """One look for an image: where it was looked for, its digest there when found, and when
    not found what answered (the registry's status, the command and its exit code)."""

    image: str
    where: str
    digest: str
    problem: str | None = None

    @property
    def found(self) -> bool:
        """The image is there."""
        return self.problem is None


def _engine() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _client(factory: Callable[[], Any]) -> Any:
    try:
        return factory()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None


def in_registry(image: str, factory: Callable[[], Any] = engine_client) -> ImageLookup:
    """Ask the image's registry, through the engine, for its manifest digest (no pull)."""
    client = _client(factory)
    try:
        data = client.images.get_registry_data(image)
    except docker.errors.NotFound:
        return ImageLookup(
            image,
            "registry",
            "",
            f"the registry has no {image} (the engine at {_engine()} answered 404 for its "
            "manifest): check the version and the repository (--dtr-image), or `docker login` "
            "to the registry",
        )
    except docker.errors.APIError as exc:
        return ImageLookup(
            image,
            "registry",
            "",
            f"the engine at {_engine()} could not read {image} from its registry (HTTP "
            f"{exc.status_code}: {one_line(str(exc.explanation or exc))}); check the engine's "
            "internet access or load the image and use --offline",
        )
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None
    finally:
        client.close()
    return ImageLookup(image, "registry", str(data.id))


def on_engine(image: str, factory: Callable[[], Any] = engine_client) -> ImageLookup:
    """The image as the engine has it; not found when it is not loaded there."""
    client = _client(factory)
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        missing = BootstrapperImageMissing(image, _engine())
        return ImageLookup(image, f"engine {_engine()}", "", str(missing))
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None
    finally:
        client.close()
    return ImageLookup(image, f"engine {_engine()}", str(found.id))


def on_host(spec: str, image: str, get_host: Any = None) -> ImageLookup:
    """The image on one `--hosts` node (testinfra runs `docker image inspect` there)."""
    host = (get_host or testinfra.get_host)(spec)
    result = host.run("docker image inspect --format %s %s", "{{.Id}}", image)
    if result.rc != 0:
        return ImageLookup(
            image,
            spec,
            "",
            f"{image} is not loaded on {spec} (`docker image inspect {image}` exited "
            f"{result.rc}); load it there with `docker load` before an offline upgrade",
        )
    return ImageLookup(image, spec, result.stdout.strip())


class BootstrapperImages(Protocol):
    """Where a session's bootstrapper images are, and how each hop's is looked for."""

    def look_up(self, version: Version) -> list[ImageLookup]:
        """Every look for the bootstrapper image of `version` (nothing is pulled)."""


@dataclass(frozen=True)
class EngineImages:
    """Images the Docker engine pulls: asked of their registry, or with `offline` looked for
    on the engine and on every `hosts` node."""

    name: Callable[[Version], str]
    offline: bool
    hosts: tuple[str, ...] = ()

    def look_up(self, version: Version) -> list[ImageLookup]:
        """The registry's answer, or offline the engine's and every node's."""
        image = self.name(version)
        if self.offline:
            return [on_engine(image), *(on_host(spec, image) for spec in self.hosts)]
        return [in_registry(image)]
