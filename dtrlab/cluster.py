"""The lab's cluster state: replicas and their versions and health, UCP, settings, scanning,
auth and the job runner's hooks; the upgrade steps that change it are in upgrade_steps.py.

Scenario effects live here, so every listener (replicas, load balancer, UCP) sees one truth.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrlab.catalogue import (
    newest_of_line,
    next_line,
    parse_version,
    ucp_too_old_for_next_minor,
)
from dtrlab.component_images import SERVICES, image_name
from dtrlab.config import Credentials, LabConfig
from dtrlab.jobs import Job, JobRunner
from dtrlab.listener import HTTPSListener
from dtrlab.store import RegistryStore

RESTART_ATTEMPTS = 20
RESTART_RETRY_S = 0.1
# The repositories the lab's bootstrapper and replicas run from, as `allow_repos` lists them
# (full names: MKE's example is "docker.io/mirantis/dtr-rethink"): the process lab's
# `dtrlab/dtr`, and the engine lab's registry (dtrlab.engine.settings.DEFAULT_REGISTRY).
LAB_DTR_REPOSITORIES = tuple(
    f"{registry}/{name}"
    for registry, namespace in (("docker.io", "dtrlab"), ("127.0.0.1:5000", "docker"))
    for name in (
        f"{namespace}/dtr",
        *(f"{namespace}/{image_name(service)}" for service in SERVICES),
    )
)
UNHEALTHY_ERROR = "rethinkdb: cannot reach dtr-rethinkdb on this replica: connection refused"
WARMING_ERROR = "registry: storage driver is not ready; waiting for rethinkdb tables"
MIGRATION_ERROR = "failed to migrate blob links: rethinkdb: context deadline exceeded"
VULN_DB_ERROR = (
    "failed to download vulnerability database: Get https://dss-cve-updates.docker.com/: "
    "dial tcp: i/o timeout"
)


@dataclass
class Replica:
    """One DTR replica: its 12-hex ID, version, listener and health."""

    id: str
    version: str
    listener: HTTPSListener | None = None
    state: str = "running"  # running | swapping | outage
    warming_until: float = 0.0
    unhealthy_error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def health(self, now: float) -> tuple[bool, str]:
        """(healthy, error) as this replica's /_ping reports it."""
        if self.unhealthy_error:
            return False, self.unhealthy_error
        if now < self.warming_until:
            return False, WARMING_ERROR
        return True, ""


class Cluster:
    """Everything the lab's listeners serve, behind one lock."""

    def __init__(
        self, config: LabConfig, credentials: Credentials, store: RegistryStore, job_time: float
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.store = store
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.clock: Callable[[], float] = time.monotonic
        self.closing = threading.Event()
        self.started_at = datetime.now(UTC)
        # Called after a swapped replica is on its new version and before it serves again, as a
        # real replica's containers exist before it answers (the engine lab creates them here).
        self.before_serving: list[Callable[[], None]] = []
        self.replicas: dict[str, Replica] = {}
        for index in range(config.replicas):
            given = config.replica_ids[index] if index < len(config.replica_ids) else ""
            rid = given or secrets.token_hex(6)
            self.replicas[rid] = Replica(rid, config.version)
        ids = list(self.replicas)
        if config.has("mixed-versions"):
            self.replicas[ids[-1]].version = config.mixed_version or (
                newest_of_line(next_line(config.version)) or config.version
            )
        if config.has("replica-unhealthy"):
            self.replicas[ids[-1]].unhealthy_error = UNHEALTHY_ERROR
        self.ucp_version = (
            ucp_too_old_for_next_minor(config.version)
            if config.has("ucp-too-old")
            else config.ucp_version
        )
        self.ucp_config_toml = _ucp_toml(
            require_content_trust=config.has("content-trust-on")
            or config.has("content-trust-allowed"),
            allow_repos=LAB_DTR_REPOSITORIES if config.has("content-trust-allowed") else (),
            admin_scheduling=not config.has("admin-scheduling-off"),
        )
        self.ucp_host = ""
        self.dtr_host = ""
        self.settings: dict[str, Any] = {
            # DTR's default: "By default DTR only allows pushing images if the repository
            # exists" (docs.docker.com/ee/dtr/admin/configure/allow-creation-on-push/).
            "createRepositoryOnPush": config.has("create-on-push"),
            "scanningEnabled": True,
            "scanningSyncOnline": True,
            "readOnlyRegistry": False,
            "logLevel": "info",
            "disableBackupWarning": False,
        }
        self.vuln_db_version = 1
        self.vuln_db_updated_at = self.started_at - timedelta(days=2)
        self.vuln_db_failed = False
        # 2.6 has the new metadata store; a 2.5 cluster has it once online GC was enabled there.
        migrated = parse_version(config.version).line >= (2, 6) or config.has(
            "metadata-store-opted-in"
        )
        self.metadata_store_opted_in = migrated
        self.online_gc_enabled = migrated
        self._bearer: dict[str, float] = {}
        self._ucp_tokens: dict[str, float] = {}
        self._lb_next = 0
        self.jobs = JobRunner(job_time, self.worker_ids, self._job_failure, self._job_observed)

    # -- replicas and health -----------------------------------------------------------------

    def replica_list(self) -> list[Replica]:
        """Replicas in cluster order."""
        with self.lock:
            return list(self.replicas.values())

    def healthy_replicas(self) -> list[Replica]:
        """Replicas whose health check passes (listening and /_ping 200): the LB's pool."""
        now = self.clock()
        with self.lock:
            return [
                r
                for r in self.replicas.values()
                if r.state == "running"
                and r.listener is not None
                and r.listener.accepting
                and r.health(now)[0]
            ]

    def pick_replica(self) -> Replica | None:
        """Round-robin among healthy replicas, as a load balancer with health checks does."""
        pool = self.healthy_replicas()
        if not pool:
            return None
        with self.lock:
            self._lb_next += 1
            return pool[self._lb_next % len(pool)]

    def worker_ids(self) -> list[str]:
        """Replica IDs whose jobrunner can claim jobs."""
        return [r.id for r in self.healthy_replicas()]

    def replica_health_text(self, replica: Replica) -> str:
        """The replica_health value cluster_status shows for `replica`."""
        now = self.clock()
        if replica.state != "running":
            last_seen = _iso(datetime.now(UTC) - timedelta(seconds=30))
            return f"Replica reported health too long ago: {last_seen}"
        healthy, error = replica.health(now)
        return "OK" if healthy else error

    def replica_versions(self) -> dict[str, str]:
        """Replica ID -> DTR version."""
        with self.lock:
            return {r.id: r.version for r in self.replicas.values()}

    # -- auth --------------------------------------------------------------------------------

    def check_password(self, username: str, secret: str) -> bool:
        """DTR basic auth: the admin with its password or its access token."""
        c = self.credentials
        return secrets.compare_digest(username, c.username) and (
            secrets.compare_digest(secret, c.password) or secrets.compare_digest(secret, c.token)
        )

    def issue_bearer(self) -> str:
        """A registry bearer token from /auth/token, valid `config.token_lifetime` seconds."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            self._bearer[token] = self.clock() + self.config.token_lifetime
        return token

    def check_bearer(self, token: str) -> bool:
        """True for an unexpired token from /auth/token."""
        with self.lock:
            expiry = self._bearer.get(token)
        return expiry is not None and expiry > self.clock()

    def ucp_login(self, username: str, password: str) -> str | None:
        """POST /auth/login: a UCP session token for the UCP admin, else None."""
        c = self.credentials
        if not (
            secrets.compare_digest(username, c.ucp_username)
            and secrets.compare_digest(password, c.ucp_password)
        ):
            return None
        token = secrets.token_urlsafe(32)
        with self.lock:
            self._ucp_tokens[token] = self.clock() + 3600
        return token

    def check_ucp_token(self, token: str) -> bool:
        """True for a session token from UCP's /auth/login."""
        with self.lock:
            expiry = self._ucp_tokens.get(token)
        return expiry is not None and expiry > self.clock()

    # -- jobs --------------------------------------------------------------------------------

    def _job_failure(self, job: Job) -> str | None:
        if job.action == "false":
            return "the false action always fails"
        if (
            job.action == "metadatastoremigration"
            and job.origin == "upgrade"
            and self.config.has("migration-fails")
        ):
            return MIGRATION_ERROR
        if job.action in ("update_vuln_db", "nautilus_update_db") and self.config.has(
            "vuln-db-update-fails"
        ):
            return VULN_DB_ERROR
        return None

    def _job_observed(self, job: Job) -> None:
        with self.lock:
            if job.action == "metadatastoremigration" and job.status == "done":
                self.metadata_store_opted_in = True
                self.online_gc_enabled = True
            elif job.action in ("update_vuln_db", "nautilus_update_db"):
                if job.status == "done":
                    if not self.config.has("vuln-db-current"):
                        # vuln-db-current: no newer database was published, nothing applied.
                        self.vuln_db_version += 1
                        self.vuln_db_updated_at = datetime.now(UTC)
                    self.vuln_db_failed = False
                elif job.status == "errored":
                    self.vuln_db_failed = True

    def start_background_jobs(self) -> None:
        """Start the job runner and the jobs a scenario wants running from the start."""
        self.jobs.start()
        if self.config.has("gc-running"):
            job = self.jobs.submit(
                "gc", origin="cron", duration=float("inf"), deadline="15m", stop_timeout="30s"
            )
            self.jobs.claim_now(job.id)

    def gc_lock_holder(self) -> str:
        """The ID of the running gc/onlinegc job holding the GC lock, or ''."""
        for job in self.jobs.all():
            if job.action in ("gc", "onlinegc") and job.status == "running":
                return job.id
        return ""

    # -- replica state changes ---------------------------------------------------------------

    def restart_listener(self, replica: Replica) -> None:
        """Listen again on the replica's port (bounded retries while the port is released)."""
        for _ in range(RESTART_ATTEMPTS):
            if replica.listener is None or self.closing.is_set():
                return
            try:
                replica.listener.start()
                return
            except OSError:
                self.closing.wait(RESTART_RETRY_S)

    def notify_changed(self) -> None:
        """Wake every `wait` to look at the replicas again."""
        with self._changed:
            self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds after a replica changed state, at most `timeout` s."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)


def node_name(index: int) -> str:
    """The UCP node name of the replica at `index` in cluster order (replicaSettings.node)."""
    return f"lab-worker-{index + 1}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ucp_toml(
    *, require_content_trust: bool, allow_repos: tuple[str, ...], admin_scheduling: bool
) -> str:
    """UCP's configuration file as config-toml exports it (docker/docs
    ee/ucp/admin/configure/ucp-configuration-file.md; allow_repos from MKE's options)."""
    flag = "true" if require_content_trust else "false"
    repos = ", ".join(f'"{repo}"' for repo in allow_repos)
    return (
        "[auth]\n"
        '  default_new_user_role = "restrictedcontrol"\n'
        '  backend = "managed"\n\n'
        "[scheduling_configuration]\n"
        f"  enable_admin_ucp_scheduling = {'true' if admin_scheduling else 'false'}\n"
        '  default_node_orchestrator = "swarm"\n\n'
        "[trust_configuration]\n"
        f"  require_content_trust = {flag}\n"
        "  require_signature_from = []\n"
        f"  allow_repos = [{repos}]\n\n"
        "[cluster_config]\n"
        "  controller_port = 443\n"
        "  swarm_port = 2376\n"
        "  kube_apiserver_port = 6443\n"
    )
