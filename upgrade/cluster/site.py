"""Where the session runs: a real DTR or the built-in lab, the one place that knows which.

A `Site` answers what differs between the two, the way testinfra's backends answer how to
reach a host: how the target is connected, which bootstrapper image a version has and which
executor runs it, the backup the session checks, where preflight looks for the bootstrapper
images, whether a Docker engine runs the replicas' containers, what that engine saw of them
during the upgrade, and what to stop at the end. `site_for` picks the implementation from the
settings once; nothing else asks whether this is the lab.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from upgrade.config.settings import Settings
from upgrade.rules.versions import Version

if TYPE_CHECKING:
    from upgrade.cluster.engine_evidence import EngineEvidence
    from upgrade.cluster.images import BootstrapperImages, ComponentImages
    from upgrade.cluster.target import Target
    from upgrade.procedure.docker_executor import DockerExecutor
    from upgrade.procedure.executor import Executor
    from upgrade.rules.catalog import Catalog

__all__ = [
    "LabSite",
    "RealSite",
    "Site",
    "needs_upgrade_lock",
    "site_class",
    "site_for",
    "target_label",
]


class Site(Protocol):
    """What a session asks of the cluster it runs against that a real DTR and the lab answer
    differently."""

    @property
    def has_engine(self) -> bool:
        """Whether the replicas run as containers on a Docker engine the session can ask."""

    def connect(self) -> Target:
        """Connect the session's target (the lab is started here); called once."""

    def bootstrapper_image(self, version: Version, catalog: Catalog) -> str:
        """The bootstrapper image of `version`."""

    def executor(self, version: Version) -> Executor:
        """The executor that runs the bootstrapper of `version`."""

    def backup(self) -> Path | None:
        """The backup file the session checks (None: none given)."""

    def bootstrapper_images(self, catalog: Catalog) -> BootstrapperImages:
        """Where preflight looks for each hop's bootstrapper image."""

    def component_images(
        self, catalog: Catalog, hostnames: Callable[[], dict[str, str]]
    ) -> ComponentImages:
        """Where each hop's component images are listed and looked for on the replicas'
        nodes; `hostnames` gives each --hosts entry's hostname."""

    def engine_evidence(self) -> EngineEvidence | None:
        """The replicas' containers as their engine replaced them (None: nothing recorded)."""

    def close(self) -> None:
        """Close what the site opened (idempotent)."""


def site_class(settings: Settings) -> type[RealSite] | type[LabSite]:
    """The built-in lab for `--target=lab`, a real DTR otherwise: the implementation, which
    answers what is known before the session starts (no Site object exists yet)."""
    return LabSite if settings.is_lab else RealSite


def site_for(settings: Settings) -> Site:
    """The session's site (see `site_class`); nothing is started yet."""
    return site_class(settings)(settings)


def needs_upgrade_lock(settings: Settings) -> bool:
    """Whether the session must hold the machine's upgrade lock of its target before anything
    runs: an upgrade (--apply) of a cluster other sessions can reach too."""
    return settings.apply and site_class(settings).shared


def target_label(settings: Settings) -> str:
    """The target as the terminal's header names it."""
    return site_class(settings).label(settings)


class _DockerExecutors:
    """One docker SDK executor per session, made on first use and closed at the end."""

    def __init__(self, offline: bool, network_mode: str | None) -> None:
        self.offline = offline
        self.network_mode = network_mode
        self._executor: DockerExecutor | None = None

    def get(self) -> DockerExecutor:
        from upgrade.procedure.docker_executor import DockerExecutor

        if self._executor is None:
            self._executor = DockerExecutor(offline=self.offline, network_mode=self.network_mode)
        return self._executor

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()


class RealSite:
    """A real DTR: the target from the settings and the environment, the catalogue's (or
    --dtr-image's) bootstrapper run through the docker SDK, the --backup file, and the Docker
    engine of DOCKER_HOST (a UCP client bundle) for the replicas' containers."""

    has_engine = True
    # Other sessions, on this machine or another, can reach the same DTR.
    shared = True

    @staticmethod
    def label(settings: Settings) -> str:
        """The DTR's URL."""
        return settings.target_url

    def __init__(self, settings: Settings, environ: Any = None) -> None:
        self.settings = settings
        self._environ = os.environ if environ is None else environ
        self._docker = _DockerExecutors(settings.offline, network_mode=None)

    def connect(self) -> Target:
        """The target, after one TLS handshake: an unreachable or untrusted target then fails
        every check at once with the same one-line cause instead of after each check's
        retries."""
        from upgrade.clients.http import DTR
        from upgrade.clients.tls import peer_certificate
        from upgrade.cluster import target as targets

        target = targets.from_settings(self.settings, self._environ)
        peer_certificate(target.dtr_url, target.dtr_verify, DTR)
        return target

    def bootstrapper_image(self, version: Version, catalog: Catalog) -> str:
        """`--dtr-image REPOSITORY:<version>`, else the catalogue's image."""
        from upgrade.cluster.images import bootstrapper_image

        return bootstrapper_image(version, catalog, self.settings.dtr_image)

    def executor(self, version: Version) -> Executor:
        """The session's one docker SDK executor (DOCKER_HOST, the cluster's engine)."""
        return self._docker.get()

    def backup(self) -> Path | None:
        """--backup."""
        return self.settings.backup

    def bootstrapper_images(self, catalog: Catalog) -> BootstrapperImages:
        """Each hop's image asked of its registry through the engine (or, --offline, looked
        for on the engine and every --hosts node)."""
        from upgrade.cluster.images import EngineImages

        return EngineImages(
            lambda version: self.bootstrapper_image(version, catalog),
            self.settings.offline,
            self.settings.hosts,
        )

    def component_images(
        self, catalog: Catalog, hostnames: Callable[[], dict[str, str]]
    ) -> ComponentImages:
        """Listed by the bootstrapper image run on the engine; online asked of their registry,
        --offline looked for on each replica's node (its --hosts entry, or the engine)."""
        from upgrade.cluster.images import EngineComponentImages
        from upgrade.cluster.nodes import bootstrapper_node

        return EngineComponentImages(
            lambda version: self.bootstrapper_image(version, catalog),
            self.settings.offline,
            hostnames,
            lambda: bootstrapper_node(True).name,
        )

    def engine_evidence(self) -> EngineEvidence | None:
        """None: a real engine's replacements are read by the post checks, not recorded."""
        return None

    def close(self) -> None:
        """Close the docker SDK client."""
        self._docker.close()


class LabSite:
    """The built-in lab (`--target=lab`): started at connect, its bootstrapper a process
    (`dtrlab/dtr:<version>`) or, with `--lab-engine=docker`, an image of the lab's registry run
    on the lab's engine like a real one; the backup its scenario provides unless --backup is
    given; replicas' containers only on the engine."""

    # The lab is a cluster of its own session: no other session can reach it.
    shared = False

    @staticmethod
    def label(settings: Settings) -> str:
        """The built-in lab."""
        return "built-in lab"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.on_engine = settings.lab.engine == "docker"
        self.lab: Any = None
        # The engine lab's UCP listens on the host's loopback only.
        self._docker = _DockerExecutors(settings.offline, network_mode="host")

    @property
    def has_engine(self) -> bool:
        """Only the engine lab runs its replicas as containers."""
        return self.on_engine

    def _started(self) -> Any:
        if self.lab is None:
            raise RuntimeError("the lab is not started: connect the site first")
        return self.lab

    def connect(self) -> Target:
        """Start the lab and return its target."""
        from upgrade.cluster import lab as labtarget

        self.lab, target = labtarget.start(self.settings)
        return target

    def bootstrapper_image(self, version: Version, catalog: Catalog) -> str:
        """The engine lab's registry image, else the lab's process name `dtrlab/dtr:<version>`
        (the catalogue and --dtr-image do not apply to the lab)."""
        if self.on_engine:
            return str(self._started().bootstrapper_image(str(version.plain)))
        return f"dtrlab/dtr:{version.plain}"

    def executor(self, version: Version) -> Executor:
        """The lab's bootstrapper program for `version`, or the engine's docker SDK executor."""
        if self.on_engine:
            return self._docker.get()
        from upgrade.procedure.process_executor import SubprocessExecutor

        return SubprocessExecutor(self._started().bootstrapper_argv(str(version)))

    def backup(self) -> Path | None:
        """--backup, else the backup the lab's scenario provides (none for `no-backup`)."""
        if self.settings.backup is not None:
            return self.settings.backup
        from upgrade.cluster import lab as labtarget

        lab = self._started()
        return labtarget.backup(lab, lab.directory)

    def bootstrapper_images(self, catalog: Catalog) -> BootstrapperImages:
        """The engine lab's registry (through its engine), else the versions the lab knows."""
        from upgrade.cluster import lab as labtarget

        return labtarget.bootstrapper_images(self._started(), self.settings)

    def component_images(
        self, catalog: Catalog, hostnames: Callable[[], dict[str, str]]
    ) -> ComponentImages:
        """The engine lab's on its engine (every replica's node), like a real cluster's;
        the process lab's listed by its bootstrapper process and held per lab node."""
        if self.on_engine:
            from upgrade.cluster.images import EngineComponentImages

            return EngineComponentImages(
                lambda version: self.bootstrapper_image(version, catalog),
                self.settings.offline,
                hostnames,
                lambda: None,
                engine_is_every_node=True,
            )
        from upgrade.cluster import lab as labtarget

        return labtarget.component_images(self._started(), self.settings)

    def engine_evidence(self) -> EngineEvidence | None:
        """The engine lab's containers and replacements; None for the process lab."""
        if not self.on_engine or self.lab is None:
            return None
        from upgrade.cluster import lab as labtarget

        return labtarget.engine_evidence(self.lab)

    def close(self) -> None:
        """Close the docker SDK client and stop the lab."""
        self._docker.close()
        lab, self.lab = self.lab, None
        if lab is not None:
            lab.__exit__(None, None, None)
