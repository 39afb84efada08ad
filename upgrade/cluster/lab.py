"""`--target=lab`: start the built-in lab for the session and point the harness at it.

The lab's CA is handed to every client, so TLS is verified exactly as against a real DTR; its
credentials are those of the environment when set (so the harness and the lab agree without
extra flags), otherwise the ones the lab generated.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upgrade.clients.secrets import DTRCredentials, Redactor, UCPCredentials
from upgrade.cluster.engine_evidence import EngineEvidence
from upgrade.cluster.images import (
    BootstrapperImages,
    EngineImages,
    ImageLookup,
    ImagesUnlisted,
    parse_image_list,
)
from upgrade.cluster.target import Endpoints, Target
from upgrade.config.settings import Settings
from upgrade.errors import HarnessError
from upgrade.rules.versions import Version

IMAGES_TIMEOUT_S = 60.0


def _replica_ids(settings: Settings) -> tuple[str, ...]:
    """With --phase=post, the --baseline's replica IDs: the lab is the cluster the baseline was
    taken from, as a real DTR is (its upgrade keeps them), unless `another-cluster` says not."""
    from upgrade.cluster.baseline import recorded_replica_ids

    if settings.mode != "verify" or settings.baseline is None:
        return ()
    if "another-cluster" in settings.lab.scenarios:
        return ()
    return recorded_replica_ids(settings.baseline)


def start(settings: Settings) -> tuple[Any, Target]:
    """Start the lab described by the settings; return it (to stop later) and its target."""
    from dtrlab import Lab, LabConfig
    from dtrlab.errors import LabError

    try:
        config = LabConfig(
            replicas=settings.lab.replicas,
            version=settings.lab.version,
            ucp_version=settings.lab.ucp_version,
            scenarios=settings.lab.scenarios,
            token_lifetime=settings.lab.token_lifetime,
            replica_ids=_replica_ids(settings),
        )
        lab = Lab(config) if settings.lab.engine != "docker" else _engine_lab(config)
        lab.__enter__()
    except (LabError, ValueError, OSError) as exc:
        raise HarnessError(f"the lab did not start: {exc}") from None
    creds = lab.credentials
    redactor = Redactor(creds.secrets())
    endpoints = Endpoints(
        dtr_url=lab.url,
        ucp_url=lab.ucp_url,
        # `unresolvable-nodes`: the harness finds the replicas as on a real DTR, from
        # replicaSettings (node names that do not resolve) and UCP's node list.
        replica_urls={} if config.has("unresolvable-nodes") else dict(lab.replica_urls),
        dtr_ca=Path(lab.ca_path),
        ucp_ca=Path(lab.ca_path),
    )
    target = Target(
        endpoints,
        # As on a real DTR, an exported DTR_TOKEN is what authenticates (the lab accepts
        # it, and PRE-CREDENTIALS names the variable that was used).
        DTRCredentials.of(
            creds.username,
            password=creds.password,
            token=creds.token if os.environ.get("DTR_TOKEN") else None,
        ),
        UCPCredentials.of(creds.ucp_username, creds.ucp_password),
        redactor=redactor,
    )
    return lab, target


def _engine_lab(config: Any) -> Any:
    """The lab with its replicas as containers on the Docker engine (`--lab-engine=docker`).

    The session then talks to the lab's engine as to a cluster whose client bundle is loaded:
    DOCKER_HOST is set to it when unset, so the executor, the container checks and testinfra's
    docker backend all reach the engine the replicas run on.
    """
    from dtrlab.engine.lab import EngineLab

    lab = EngineLab(config)
    os.environ.setdefault("DOCKER_HOST", lab.engine.docker_host)
    return lab


def engine_evidence(lab: Any) -> EngineEvidence | None:
    """The engine lab's containers and replacements (old and new IDs and images), else None."""
    evidence = getattr(lab, "engine_evidence", None)
    return EngineEvidence.of(evidence()) if callable(evidence) else None


def backup(lab: Any, directory: Path) -> Path | None:
    """The backup file the lab's scenario provides (none for `no-backup`)."""
    result = lab.provide_backup(directory)
    return None if result is None else Path(result)


@dataclass(frozen=True)
class LabImages:
    """The lab's own bootstrappers (`dtrlab/dtr:<version>`, run as processes): an image is
    there when the lab knows the version."""

    known: Callable[[str], bool]

    def look_up(self, version: Version) -> list[ImageLookup]:
        """The lab's answer for the bootstrapper of `version`."""
        image = f"dtrlab/dtr:{version}"
        problem = None
        if not self.known(str(version)):
            problem = f"the lab has no bootstrapper for {version}; pick a version the lab knows"
        return [ImageLookup(image, "lab", "", problem)]


def bootstrapper_images(lab: Any, settings: Settings) -> BootstrapperImages:
    """Where the lab's bootstrapper images are: the engine lab's registry (looked for through
    its engine like a real DTR's), else the lab's own processes."""
    if settings.lab.engine == "docker":
        return EngineImages(
            lambda version: str(lab.bootstrapper_image(str(version))),
            settings.offline,
            settings.hosts,
        )
    from dtrlab.catalogue import is_known

    return LabImages(is_known)


@dataclass(frozen=True)
class LabComponentImages:
    """The process lab's component images: listed by its bootstrapper's `images` command run as
    a process (`dtrlab.component_images`), and held by each lab node unless the lab's scenario
    (`image-missing-on-node`) leaves one off."""

    argv: Callable[[str], list[str]]
    holds: Callable[[str, str], bool]

    def listed(self, version: Version) -> list[str]:
        """`<lab bootstrapper> images` for `version`."""
        command = [*self.argv(str(version)), "images"]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=IMAGES_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImagesUnlisted(f"the lab's `images` did not run: {exc}") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1]
            raise ImagesUnlisted(
                f"the lab's `images` for {version} exited {done.returncode}: {last}"
            )
        images = parse_image_list(done.stdout)
        if not images:
            raise ImagesUnlisted(f"the lab's `images` for {version} listed no image")
        return images

    def look_up(self, image: str, node: str) -> ImageLookup:
        """Whether the lab node `node` holds `image`."""
        if self.holds(node, image):
            return ImageLookup(image, f"node {node}", "")
        return ImageLookup(
            image,
            f"node {node}",
            "",
            f"{image} is not on node {node}, which runs a replica: load it there (`docker load` "
            "of the offline bundle, or pull it from the mirror) before the upgrade, or that "
            "replica's new containers cannot start",
        )


def component_images(lab: Any, settings: Settings) -> LabComponentImages:
    """The process lab's component images (the engine lab's are looked for on its engine)."""
    from dtrlab.component_images import node_has

    scenarios = tuple(settings.lab.scenarios)
    started_on = str(settings.lab.version)
    return LabComponentImages(
        lambda version: list(lab.bootstrapper_argv(version)),
        lambda node, image: node_has(scenarios, started_on, node, image),
    )
