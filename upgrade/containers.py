"""A replica's DTR containers as the Docker engine reports them: name, state, version label.

The engine is the one the docker SDK is pointed at by `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`
and `DOCKER_CERT_PATH`), which is how a UCP client bundle reaches every node of the cluster.
Each replica runs `dtr-<service>-<replica ID>` containers labelled `com.docker.dtr.version`
and `com.docker.dtr.replica`; the bootstrapper's upgrade has succeeded on a replica when every
one of them runs with the target version's label.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from upgrade.errors import HarnessError

__all__ = [
    "EXPECTED_SERVICES",
    "VERSION_LABEL",
    "ContainerState",
    "engine_configured",
    "replica_containers",
]

VERSION_LABEL = "com.docker.dtr.version"
REPLICA_LABEL = "com.docker.dtr.replica"
# The containers of a replica in DTR 2.6 to 2.9 (the architecture page).
EXPECTED_SERVICES = (
    "api",
    "garant",
    "jobrunner",
    "nginx",
    "notary-server",
    "notary-signer",
    "registry",
    "rethinkdb",
    "scanningstore",
)


@dataclass(frozen=True)
class ContainerState:
    """One DTR container of a replica."""

    name: str
    service: str
    status: str
    version: str
    image: str


def engine_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a Docker engine of the cluster is configured (`DOCKER_HOST`, e.g. a UCP bundle)."""
    env = os.environ if environ is None else environ
    return bool(env.get("DOCKER_HOST"))


def _docker_from_env() -> Any:
    import docker

    return docker.from_env()


def replica_containers(
    replica_id: str, client_factory: Callable[[], Any] = _docker_from_env
) -> list[ContainerState]:
    """The DTR containers of `replica_id` (running or not), sorted by name.

    Through UCP, names carry the node as a prefix (`/node-1/dtr-nginx-<rid>`); both forms match.
    Raises `HarnessError` when the engine cannot be reached.
    """
    pattern = re.compile(rf"(?:^|/)dtr-(?P<service>[a-z-]+)-{re.escape(replica_id)}$")
    try:
        client = client_factory()
    except Exception as exc:  # the SDK raises DockerException or requests errors alike
        raise HarnessError(
            f"cannot reach the Docker engine at {os.environ.get('DOCKER_HOST', '?')}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; check DOCKER_HOST, "
            "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (a UCP client bundle sets them)"
        ) from None
    try:
        listed = client.containers.list(all=True, filters={"name": f"-{replica_id}"})
        found = []
        for container in listed:
            name = str(container.name)
            match = pattern.search(name)
            if match is None:
                continue
            labels = dict(container.labels or {})
            image = container.attrs.get("Config", {}).get("Image", "")
            found.append(
                ContainerState(
                    name=name,
                    service=match["service"],
                    status=str(container.status),
                    version=str(labels.get(VERSION_LABEL, "")),
                    image=str(image),
                )
            )
    except Exception as exc:  # docker.errors.APIError and connection errors alike
        raise HarnessError(
            f"listing the containers of replica {replica_id} failed: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()
    return sorted(found, key=lambda state: state.name)
