"""The images a DTR version needs, as its bootstrapper's `images` command lists them, and which
of them each lab node holds.

`docker run --rm docker/dtr:V images` "lists all the images necessary to install DTR"
(docker/docs reference/dtr/2.7/cli/images.md); launchpad runs it and pulls every listed image on
every MSR host (pkg/product/mke/phase/pull_msr_images.go), and offline sites load them on every
node (the upgrade guide: "the images on the target nodes if upgrading offline"). The lab's list
is one image per line: the bootstrapper and one image per replica service (SERVICES, the one
list the lab's bootstrapper, cluster and engine tier share), under the repository
prefix `DTRLAB_IMAGE_REPOSITORY` (the engine lab's registry, `127.0.0.1:5000/docker`) or
`docker`. The process lab's nodes hold every image of every release, except under the
`image-missing-on-node` scenario, where the second replica's node lacks the target's
`dtr-registry` image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dtrlab.catalogue import parse_version

SERVICES = (
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
# A service's image is `<org>/dtr-<service>`, but RethinkDB's: its container is
# `dtr-rethinkdb-<rid>` (dtr-facts.md 2), its image `dtr-rethink` (MKE's allow_repos example
# "docker.io/mirantis/dtr-rethink", upgrade/clients/ucp.py).
IMAGE_NAMES = {"rethinkdb": "rethink"}
DEFAULT_REPOSITORY = "docker"
MISSING_SERVICE = "registry"


def services_for(version: str) -> tuple[str, ...]:
    """The services a replica of DTR `version` runs (2.5 had no scanningstore)."""
    if parse_version(version).line < (2, 6):
        return tuple(s for s in SERVICES if s != "scanningstore")
    return SERVICES


def image_name(service: str) -> str:
    """The repository name, without organisation, of the image `service`'s container runs:
    `dtr-api`, and `dtr-rethink` for `rethinkdb`."""
    return f"dtr-{IMAGE_NAMES.get(service, service)}"


def repository(environ: Mapping[str, str] | None = None) -> str:
    """The repository prefix the images are listed under."""
    env = os.environ if environ is None else environ
    return (env.get("DTRLAB_IMAGE_REPOSITORY") or DEFAULT_REPOSITORY).rstrip("/")


def images_for(version: str, prefix: str = DEFAULT_REPOSITORY) -> list[str]:
    """What `images` prints for `version`: the bootstrapper, then each service's image."""
    return [f"{prefix}/dtr:{version}"] + [
        f"{prefix}/{image_name(service)}:{version}" for service in services_for(version)
    ]


def missing_on_node(version: str, prefix: str = DEFAULT_REPOSITORY) -> str:
    """The image `image-missing-on-node` leaves off one node."""
    return f"{prefix}/{image_name(MISSING_SERVICE)}:{version}"


def node_has(scenarios: tuple[str, ...], started_on: str, node: str, image: str) -> bool:
    """Whether the process lab's `node` holds `image`: always, except that under
    `image-missing-on-node` the second replica's node (`lab-worker-2`) lacks the `dtr-registry`
    image of every version but the one the lab started on."""
    if "image-missing-on-node" not in scenarios or node != "lab-worker-2":
        return True
    name, _, version = image.rpartition(":")
    return not (name.endswith(f"/{image_name(MISSING_SERVICE)}") and version != started_on)
