"""The images a DTR version needs, as its bootstrapper's `images` command lists them, and which
of them each lab node holds.

`docker run --rm docker/dtr:V images` "lists all the images necessary to install DTR"
(docker/docs reference/dtr/2.7/cli/images.md); launchpad runs it and pulls every listed image on
every MSR host (pkg/product/mke/phase/pull_msr_images.go), and offline sites load them on every
node (the upgrade guide: "the images on the target nodes if upgrading offline"). The lab's list
is one image per line: the bootstrapper and one image per replica service, under the repository
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
DEFAULT_REPOSITORY = "docker"
MISSING_SERVICE = "registry"


def services_for(version: str) -> tuple[str, ...]:
    """The service images of DTR `version` (2.5 had no scanningstore)."""
    if parse_version(version).line < (2, 6):
        return tuple(s for s in SERVICES if s != "scanningstore")
    return SERVICES


def repository(environ: Mapping[str, str] | None = None) -> str:
    """The repository prefix the images are listed under."""
    env = os.environ if environ is None else environ
    return (env.get("DTRLAB_IMAGE_REPOSITORY") or DEFAULT_REPOSITORY).rstrip("/")


def images_for(version: str, prefix: str = DEFAULT_REPOSITORY) -> list[str]:
    """What `images` prints for `version`: the bootstrapper, then each service's image."""
    return [f"{prefix}/dtr:{version}"] + [
        f"{prefix}/dtr-{service}:{version}" for service in services_for(version)
    ]


def missing_on_node(version: str, prefix: str = DEFAULT_REPOSITORY) -> str:
    """The image `image-missing-on-node` leaves off one node."""
    return f"{prefix}/dtr-{MISSING_SERVICE}:{version}"


def node_has(scenarios: tuple[str, ...], started_on: str, node: str, image: str) -> bool:
    """Whether the process lab's `node` holds `image`: always, except that under
    `image-missing-on-node` the second replica's node (`lab-worker-2`) lacks the `dtr-registry`
    image of every version but the one the lab started on."""
    if "image-missing-on-node" not in scenarios or node != "lab-worker-2":
        return True
    name, _, version = image.rpartition(":")
    return not (name.endswith(f"/dtr-{MISSING_SERVICE}") and version != started_on)
