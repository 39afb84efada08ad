"""The bootstrapper image: which one a version needs, and whether it can be had, read-only.

The guide's step 2 pulls `<org>/dtr:<version>` before running `upgrade`; offline nodes need the
images loaded first. Preflight asks the registry for the image's manifest through the Docker
engine (nothing is pulled), or with `--offline` checks the image is present on the engine and on
every `--hosts` node. The component images the bootstrapper's `images` command lists are looked
for the same way, on every node that runs a replica.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
        return f"{override}:{version.plain}"  # tagged by release (upgrade.rules.versions)
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
    from upgrade.cluster.nodes import NodeUnreachable, run_on_node

    try:
        host = (get_host or testinfra.get_host)(spec)
        # Any exit but ssh's 255 (node unreachable) is docker's answer.
        result = run_on_node(
            host, spec, "docker image inspect --format %s %s", "{{.Id}}", image, ok=range(255)
        )
    except NodeUnreachable as exc:
        return ImageLookup(image, spec, "", str(exc))
    except Exception as exc:  # an unknown backend or its missing package
        return ImageLookup(image, spec, "", f"cannot reach host {spec}: {one_line(str(exc))}")
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


# -- the component images of a version ---------------------------------------------------------
#
# `docker run --rm <org>/dtr:<version> images` "lists all the images necessary to install DTR"
# (docker/docs reference/dtr/2.7/cli/images.md; dtr-facts.md 1.4): the guide wants them "on the
# target nodes if upgrading offline", and launchpad pulls each listed image on every MSR host
# (pkg/product/mke/phase/pull_msr_images.go). The output's exact layout is not documented;
# launchpad reads it as image references separated by white space, and so does the harness.

_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/-]*(?::[0-9]+)?[a-z0-9._/-]*:[\w][\w.-]{0,127}")


class ImagesUnlisted(HarnessError):
    """The bootstrapper's `images` list could not be read; the message says what to do."""


class BootstrapperNotLocal(ImagesUnlisted):
    """The bootstrapper image is not on the engine yet, so `images` cannot run unpulled."""


def parse_image_list(text: str) -> list[str]:
    """The image references in `images` output, in order, without repeats (log lines and
    other words are left out)."""
    found: list[str] = []
    for word in text.split():
        if _REFERENCE.fullmatch(word) and "/" in word and word not in found:
            found.append(word)
    return found


def listed_by_engine(image: str, factory: Callable[[], Any] = engine_client) -> list[str]:
    """`docker run --rm IMAGE images` on the engine, without a network; the image must already
    be on the engine (preflight pulls nothing)."""
    client = _client(factory)
    try:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise BootstrapperNotLocal(
                f"the bootstrapper image {image} is not on the engine at {_engine()}, so its "
                f"`images` list cannot be read without pulling it: `docker pull {image}` (or "
                "load it) first; the guide's step 2 pulls it anyway"
            ) from None
        output = client.containers.run(
            image, command=["images"], remove=True, stdout=True, stderr=False, network_mode="none"
        )
    except docker.errors.ContainerError as exc:
        raise ImagesUnlisted(
            f"`docker run --rm {image} images` exited {exc.exit_status} on the engine at "
            f"{_engine()}; run it by hand to see why"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(_engine(), one_line(str(exc))) from None
    finally:
        client.close()
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
    return _nonempty(parse_image_list(text), f"`docker run --rm {image} images`")


def _nonempty(images: list[str], what: str) -> list[str]:
    if not images:
        raise ImagesUnlisted(f"{what} listed no image; run it by hand and check its output")
    return images


class ComponentImages(Protocol):
    """Where a version's images are listed and looked for, node by node."""

    def listed(self, version: Version) -> list[str]:
        """The images `version` needs, as its bootstrapper's `images` command lists them."""

    def look_up(self, image: str, node: str) -> ImageLookup:
        """Whether the replica node `node` (its UCP name) can have `image` (nothing pulled)."""


@dataclass
class EngineComponentImages:
    """A real cluster's (or the engine lab's) images: listed by running the bootstrapper image
    on the engine; online, each asked of its registry once (every node pulls from it); with
    `offline`, looked for on the node itself: the `--hosts` entry whose hostname is the node's
    name, or the engine when it is that node (or `engine_is_every_node`, the engine lab)."""

    bootstrapper: Callable[[Version], str]
    offline: bool
    hostnames: Callable[[], dict[str, str]]
    engine_node: Callable[[], str | None]
    engine_is_every_node: bool = False
    _registry: dict[str, ImageLookup] = field(default_factory=dict)

    def listed(self, version: Version) -> list[str]:
        """`docker run --rm <bootstrapper> images` on the engine."""
        return listed_by_engine(self.bootstrapper(version))

    def look_up(self, image: str, node: str) -> ImageLookup:
        """The registry's answer (online), or the node's own (offline)."""
        if not self.offline:
            if image not in self._registry:
                self._registry[image] = in_registry(image)
            return self._registry[image]
        short = node.split(".")[0].lower()
        for spec, hostname in self.hostnames().items():
            if hostname.split(".")[0].lower() == short:
                return on_host(spec, image)
        engine = self.engine_node()
        if self.engine_is_every_node or (engine and engine.split(".")[0].lower() == short):
            return on_engine(image)
        return ImageLookup(
            image,
            node,
            "",
            f"node {node} runs a replica, but no --hosts entry has that hostname and the "
            f"engine at {_engine()} is not that node, so {image} cannot be looked for there: "
            f"add the node to --hosts (e.g. ssh://{node})",
        )
