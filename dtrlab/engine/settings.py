"""Where the lab's engine, registry and image cache live, and the names DTR gives things."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dtrlab.component_images import image_name
from dtrlab.errors import LabError
from upgrade.cluster import containers

DEFAULT_SOCKET = "/run/dtrlab-docker.sock"
DEFAULT_REGISTRY = "127.0.0.1:5000"
DEFAULT_CACHE = "/var/cache/dtrlab"
DEFAULT_STATE = "/var/lib/dtrlab"
DEBIAN_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The labels a replica's containers carry are the product's, as the harness knows them.
VERSION_LABEL = containers.VERSION_LABEL
REPLICA_LABEL = containers.REPLICA_LABEL
COMPOSE_PROJECT_LABEL = containers.COMPOSE_PROJECT_LABEL
# Every container and image the lab makes carries this label, so they can be found and removed.
LAB_LABEL = "com.docker.dtr.lab"


class EngineError(LabError):
    """The Docker engine, the registry or an image build did not do what the lab needs."""


@dataclass(frozen=True)
class EngineSettings:
    """Paths and addresses of the lab's engine tier; `from_env` reads the overrides.

    `docker_host` is the engine (`DOCKER_HOST`, default the lab's own dockerd socket);
    `registry` the distribution registry's host:port (`DTRLAB_REGISTRY`); `cache` keeps the
    Debian root file system between runs (`DTRLAB_CACHE`); `state` holds dockerd's and the
    registry's data (`DTRLAB_STATE`); `mirror` is the Debian mirror (`DTRLAB_DEBIAN_MIRROR`).
    """

    docker_host: str = f"unix://{DEFAULT_SOCKET}"
    registry: str = DEFAULT_REGISTRY
    cache: Path = Path(DEFAULT_CACHE)
    state: Path = Path(DEFAULT_STATE)
    mirror: str = DEFAULT_MIRROR
    suite: str = DEBIAN_SUITE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        """The settings with the environment's overrides applied."""
        env = os.environ if environ is None else environ
        return cls(
            docker_host=env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}",
            registry=env.get("DTRLAB_REGISTRY") or DEFAULT_REGISTRY,
            cache=Path(env.get("DTRLAB_CACHE") or DEFAULT_CACHE),
            state=Path(env.get("DTRLAB_STATE") or DEFAULT_STATE),
            mirror=env.get("DTRLAB_DEBIAN_MIRROR") or DEFAULT_MIRROR,
        )

    @property
    def socket_path(self) -> Path | None:
        """The engine's unix socket, when `docker_host` is one."""
        if self.docker_host.startswith("unix://"):
            return Path(self.docker_host.removeprefix("unix://"))
        return None

    @property
    def base_image(self) -> str:
        """The imported Debian root file system."""
        return f"dtrlab/base:{self.suite}"

    def bootstrapper_image(self, version: str) -> str:
        """The bootstrapper image of `version`, tagged as DTR's: `<registry>/docker/dtr:V`."""
        return f"{self.registry}/docker/dtr:{version}"

    def service_image(self, service: str, version: str) -> str:
        """The image a replica's `service` container runs: `<registry>/docker/dtr-api:V`
        (`dtr-rethink` for `rethinkdb`, dtrlab.component_images)."""
        return f"{self.registry}/docker/{image_name(service)}:{version}"
