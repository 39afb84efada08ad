"""The Lab: a simulated DTR cluster (replicas + load balancer) and UCP on loopback, real TLS."""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from dtrlab import legacy_images
from dtrlab.backup import write_backup
from dtrlab.catalogue import parse_version
from dtrlab.cluster import Cluster
from dtrlab.config import Credentials, LabConfig
from dtrlab.damage import install_damage
from dtrlab.dtr_api import ReplicaAPI
from dtrlab.errors import LabError
from dtrlab.listener import HTTPSListener
from dtrlab.loadbalancer import LoadBalancer
from dtrlab.store import RegistryStore
from dtrlab.tls import LabCertificates
from dtrlab.ucp_api import UCPAPI
from dtrlab.upgrade_steps import UpgradeSteps

# (namespace, repository, namespace type, tags, {alias tag: tag it points at})
DEMO_REPOSITORIES: tuple[tuple[str, str, str, list[str], dict[str, str]], ...] = (
    ("admin", "alpine", "user", ["3.8", "3.9"], {"latest": "3.9"}),
    ("admin", "nginx", "user", ["1.15", "1.16"], {"latest": "1.16"}),
    ("engineering", "api", "organization", ["1.0.0", "1.1.0", "1.2.0"], {}),
    ("engineering", "web", "organization", ["2.3.1"], {"stable": "2.3.1"}),
    ("qa", "tools", "organization", ["2019.01"], {}),
)


class Lab:
    """A running lab. Use as a context manager; every listener is closed on exit.

    `url` is the load-balanced DTR endpoint, `replica_urls` each replica's own listener,
    `ucp_url` UCP, `ca_path` the CA PEM every listener's certificate chains to.
    """

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        self._tmp = tempfile.TemporaryDirectory(prefix="dtrlab-")
        self.directory = Path(self._tmp.name)
        self.credentials = Credentials.resolve(self.config)
        self._certs = LabCertificates(self.directory)
        self.ca_path = self._certs.ca_path
        self.ca_pem = self._certs.ca_pem
        store = RegistryStore(datetime.now(UTC) - timedelta(days=7), self.credentials.username)
        if self.config.repositories is None:
            for namespace, name, kind, tags, aliases in DEMO_REPOSITORIES:
                store.add_demo_repository(namespace, name, kind, tags, aliases)
        else:
            store.add_generated_repositories(self.config.repositories, self.config.tags_per_repo)
        legacy_images.install(store, self.config)
        self.store = store
        self.cluster = Cluster(self.config, self.credentials, store, self.config.job_time)
        install_damage(self.cluster)
        self.upgrade = UpgradeSteps(self.cluster)
        self._apps: dict[str, ReplicaAPI] = {}
        self._listeners: list[HTTPSListener] = []
        for replica in self.cluster.replica_list():
            app = ReplicaAPI(self.cluster, replica, self.ca_pem)
            self._apps[replica.id] = app
            replica.listener = HTTPSListener(
                f"replica-{replica.id}", app, self._certs.server_context(f"dtr-nginx-{replica.id}")
            )
            self._listeners.append(replica.listener)
        self.lb_listener = HTTPSListener(
            "dtr-lb",
            LoadBalancer(self.cluster, self._apps),
            self._certs.server_context("dtr"),
            port=self.config.port,
        )
        self.ucp_listener = HTTPSListener(
            "ucp",
            UCPAPI(self.cluster, self.upgrade, self.ca_pem),
            self._certs.server_context("ucp"),
        )
        self._listeners += [self.lb_listener, self.ucp_listener]
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every listener and the job runner."""
        if self._started:
            return self
        try:
            for listener in self._listeners:
                listener.start()
        except OSError as exc:
            self.close()
            raise LabError(
                f"cannot listen on 127.0.0.1:{self.config.port or 'an ephemeral port'}: {exc}"
            ) from exc
        self.cluster.dtr_host = f"127.0.0.1:{self.lb_listener.port}"
        self.cluster.ucp_host = f"127.0.0.1:{self.ucp_listener.port}"
        self.cluster.start_background_jobs()
        self._started = True
        return self

    def close(self) -> None:
        """Stop the job runner and every listener, and delete the lab's temporary files."""
        self.cluster.closing.set()
        self.cluster.jobs.stop()
        for listener in self._listeners:
            listener.close()
        self.upgrade.join_swaps()
        self._tmp.cleanup()
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The load-balanced DTR endpoint, https://127.0.0.1:PORT."""
        return self.lb_listener.url

    @property
    def replica_urls(self) -> dict[str, str]:
        """Replica ID -> that replica's own https://127.0.0.1:PORT."""
        return {
            rid: f"https://127.0.0.1:{app.replica.listener.port}"
            for rid, app in self._apps.items()
            if app.replica.listener
        }

    @property
    def ucp_url(self) -> str:
        """UCP, https://127.0.0.1:PORT."""
        return self.ucp_listener.url

    # -- state -------------------------------------------------------------------------------

    def replica_versions(self) -> dict[str, str]:
        """Replica ID -> the DTR version it runs now."""
        return self.cluster.replica_versions()

    def lost_tags(self) -> list[str]:
        """`namespace/repo:tag` names the data-loss scenario removed during an upgrade."""
        return self.upgrade.lost_tags()

    # -- backups -----------------------------------------------------------------------------

    def write_backup(
        self, directory: Path, age: timedelta = timedelta(0), version: str | None = None
    ) -> Path:
        """Write a DTR backup tar (`dtr-backup-v<version>/rethink/...`) of the current content,
        with mtime now - `age`; `version` defaults to the oldest version a replica runs."""
        current = min(self.replica_versions().values(), key=parse_version)
        first = next(iter(self.replica_versions()))
        return write_backup(Path(directory), version or current, first, self.store.snapshot(), age)

    def provide_backup(self, directory: Path) -> Path | None:
        """The backup this lab's scenarios make available: None for `no-backup`, one
        `stale_backup_days` old for `stale-backup`, a fresh one otherwise."""
        if self.config.has("no-backup"):
            return None
        age = (
            timedelta(days=self.config.stale_backup_days)
            if self.config.has("stale-backup")
            else timedelta(0)
        )
        return self.write_backup(directory, age=age)

    # -- the bootstrapper --------------------------------------------------------------------

    def bootstrapper_argv(self, target_version: str) -> list[str]:
        """The argv prefix that runs the simulated bootstrapper image for `target_version`; the
        caller appends `upgrade` and the documented flags (--ucp-url is this lab's ucp_url)."""
        parse_version(target_version)
        return [sys.executable, "-m", "dtrlab.bootstrapper", "--image-version", target_version]
