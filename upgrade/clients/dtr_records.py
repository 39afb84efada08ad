"""The typed, immutable results of the DTR API client: cluster status, settings, features,
jobs and their log lines and states, crons, scan status, repositories and tags. Each keeps the
fields the checks judge; `raw` holds the answer as evidence. Reading them from DTR's answers is
`upgrade.clients.dtr.DTRClient`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ClusterStatus",
    "Cron",
    "Features",
    "Job",
    "JobLogLine",
    "ReplicaSettings",
    "Repository",
    "ScanStatus",
    "Settings",
    "Tag",
]

# Job status words: the Swagger enum (dtr-api/dtr-2.6.0-swagger.json and 2.7.0,
# tmpresponses.Job.status: waiting, running, done, canceled, errored) and the job-queue
# documentation's (dtr-facts.md 3.3, S15: error, cancel_request, cancel, deleted, worker_dead,
# worker_shutdown, worker_resurrection). fidelity-review.md 8: `cancel_request` is a request the
# worker acts on (transitional); `worker_dead` jobs "were claimed by the unhealthy replica" and
# enter that state "so that other replicas can claim the job"; `worker_shutdown` is a worker
# that "gracefully stopped", which is what replacing jobrunner containers produces. A `worker_*`
# status says the worker went away, not that the job failed: it is *interrupted*, not finished.
JOB_SUCCESS = frozenset({"done"})
JOB_PENDING = frozenset({"waiting", "running", "cancel_request"})
JOB_INTERRUPTED_PREFIX = "worker_"
JOB_FAILURE_PREFIXES = ("error", "cancel")
JOB_FAILURE = frozenset({"deleted"})


@dataclass(frozen=True)
class ClusterStatus:
    """`GET /api/v0/meta/cluster_status`, reduced to what health checks judge; `raw` is evidence."""

    replica_health: dict[str, str]
    current_issues: tuple[dict[str, Any], ...]
    tables_not_ready: tuple[str, ...]
    replica_readonly: dict[str, bool]
    gc_lock_holder: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def tables_ready(self) -> bool:
        """Every RethinkDB table reports `all_replicas_ready`."""
        return not self.tables_not_ready

    @property
    def unhealthy_replicas(self) -> dict[str, str]:
        """Replicas whose health is not `OK`, with what they report."""
        return {rid: health for rid, health in self.replica_health.items() if health != "OK"}

    @property
    def critical_issues(self) -> tuple[dict[str, Any], ...]:
        """The current issues RethinkDB marks `critical` ("true if the issue is likely to cause
        loss of availability", RethinkDB's system-issues documentation; fidelity-review.md 13).
        An issue without a boolean `critical` counts as critical: the safe reading."""
        return tuple(i for i in self.current_issues if i.get("critical") is not False)

    @property
    def other_issues(self) -> tuple[dict[str, Any], ...]:
        """The current issues RethinkDB marks `critical: false` (e.g. `outdated_index`)."""
        return tuple(i for i in self.current_issues if i.get("critical") is False)

    @property
    def healthy(self) -> bool:
        """All replicas OK, no critical current issue, all tables ready."""
        return not self.unhealthy_replicas and not self.critical_issues and self.tables_ready


@dataclass(frozen=True)
class ReplicaSettings:
    """One entry of `replicaSettings`: where a replica runs and on which ports."""

    replica_id: str
    node: str
    http_port: int
    https_port: int


@dataclass(frozen=True)
class Settings:
    """`GET /api/v0/meta/settings`: the fields upgrade checks read; `raw` is evidence."""

    replicas: tuple[ReplicaSettings, ...]
    dtr_host: str
    replica_id: str
    scanning_enabled: bool
    scanning_sync_online: bool
    read_only_registry: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def replica_ids(self) -> tuple[str, ...]:
        """The replica IDs known to the cluster, sorted."""
        return tuple(replica.replica_id for replica in self.replicas)


@dataclass(frozen=True)
class Features:
    """`GET /api/v0/meta/features`."""

    scanning_enabled: bool
    scanning_licensed: bool
    online_gc_enabled: bool
    metadata_store_opted_in: bool
    db_version: int
    ucp_host: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Job:
    """A job of the DTR job runner (`tmpresponses.Job`)."""

    id: str
    action: str
    status: str
    worker_id: str
    scheduled_at: datetime | None
    last_updated: datetime | None
    retries_left: int
    retries_total: int
    retry_from_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        """The job succeeded (`done`)."""
        return self.status in JOB_SUCCESS

    @property
    def pending(self) -> bool:
        """The job has not finished (`waiting`, `running`, the transitional `cancel_request`)."""
        return self.status in JOB_PENDING

    @property
    def interrupted(self) -> bool:
        """The job's worker went away (`worker_dead`, `worker_shutdown`, ...): another replica
        may claim it again or the job runner retry it, so it is neither failed nor finished."""
        return self.status.startswith(JOB_INTERRUPTED_PREFIX)

    @property
    def failed(self) -> bool:
        """The job ended without success: `errored`/`error*`, `canceled`/`cancel`, `deleted`."""
        return not self.pending and (
            self.status in JOB_FAILURE or self.status.startswith(JOB_FAILURE_PREFIXES)
        )

    @property
    def finished(self) -> bool:
        """The job ended, one way or the other (unknown words count as unfinished)."""
        return self.done or self.failed

    @property
    def parameters(self) -> dict[str, Any]:
        """The job's `parameters` (null or absent in some answers: empty)."""
        value = self.raw.get("parameters")
        return dict(value) if isinstance(value, dict) else {}


@dataclass(frozen=True)
class JobLogLine:
    """One line of a job's log."""

    line_num: int
    data: str


@dataclass(frozen=True)
class Cron:
    """A scheduled job (`tmpresponses.Cron`)."""

    id: str
    action: str
    schedule: str
    retries: int
    next_run: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ScanStatus:
    """`GET /api/v0/imagescan/status` (`responses.NautilusStatus`)."""

    state: int
    scanner_version: int
    scanner_updated_at: datetime | None
    db_version: int
    db_updated_at: datetime | None
    last_db_update_failed: bool
    last_vuln_overrides_db_update_failed: bool
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Repository:
    """A repository (`responses.Repository`); `full_name` is `namespace/name`."""

    id: str
    namespace: str
    name: str

    @property
    def full_name(self) -> str:
        """`namespace/name`, as in `docker pull DTR/namespace/name`."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Tag:
    """A tag of a repository (`responses.ListTag`) with the manifest digest DTR records and
    the manifest's `mediaType` (`responses.Manifest`; empty when not given)."""

    name: str
    digest: str
    updated_at: datetime | None
    media_type: str = ""
