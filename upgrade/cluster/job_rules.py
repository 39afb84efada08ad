"""The rules of DTR job states: which actions the upgrade must not cut, how the attempts of a
retried job form a chain, and which failures a later attempt recovered. Pure over
`upgrade.clients.dtr_records.Job`; asking DTR and waiting is `upgrade.cluster.jobs`.

DTR's job runner retries a failed job by scheduling a new job record whose `retryFromID` links
it to the failed one (the fact sheet's example shows an original job carrying its own ID there;
whether a retry points at the previous attempt or at the first one is not documented, so both
are followed). A *chain* is every attempt linked that way, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from upgrade.clients.dtr_records import Job
from upgrade.evidence.records import iso

__all__ = [
    "BLOCKING_ACTIONS",
    "METADATA_MIGRATION",
    "JobChain",
    "JobReview",
    "blocking_jobs",
    "chains",
    "review_since",
    "scheduled_since",
]

# The 2.5 -> 2.6 migration of the metadata store: garbage collection is disabled while it runs.
METADATA_MIGRATION = "metadatastoremigration"
# Jobs the upgrade must not interrupt: garbage collection (read-only mode) and migrations.
BLOCKING_ACTIONS = frozenset(
    {
        "gc",
        "onlinegc",
        "onlinegc_metadata",
        "onlinegc_joblogs",
        METADATA_MIGRATION,
        "scannedlayermigration",
        "tagmigration",
        "bloblinkmigration",
        "ro_registry",
    }
)


@dataclass(frozen=True)
class JobChain:
    """Every attempt of one job, linked by `retryFromID`, oldest first."""

    action: str
    attempts: tuple[Job, ...]

    @property
    def latest(self) -> Job:
        """The most recent attempt."""
        return self.attempts[-1]

    @property
    def first(self) -> Job:
        """The attempt that started the chain."""
        return self.attempts[0]

    @property
    def done(self) -> bool:
        """The latest attempt succeeded."""
        return self.latest.done

    @property
    def failed_attempts(self) -> tuple[Job, ...]:
        """The attempts that ended without success."""
        return tuple(job for job in self.attempts if job.failed)

    @property
    def exhausted(self) -> bool:
        """The latest attempt failed and the job runner will not retry it again (an attempt
        whose worker went away, `worker_dead`, is not: another replica may claim it)."""
        return self.latest.failed and self.latest.retries_left <= 0

    @property
    def finished(self) -> bool:
        """Nothing more will happen to this chain by itself: done, or failed for good."""
        return self.done or self.exhausted

    def summary(self) -> list[dict[str, Any]]:
        """The attempts as evidence: ID, status, times, worker and retries left."""
        return [
            {
                "id": job.id,
                "status": job.status,
                "retry_from_id": job.retry_from_id,
                "scheduled_at": iso(job.scheduled_at),
                "last_updated": iso(job.last_updated),
                "worker": job.worker_id,
                "retries_left": job.retries_left,
            }
            for job in self.attempts
        ]


def blocking_jobs(jobs: Iterable[Job]) -> list[Job]:
    """The jobs among `jobs` that the upgrade must not cut (an action of BLOCKING_ACTIONS)."""
    return [job for job in jobs if job.action in BLOCKING_ACTIONS]


def _moment(job: Job) -> datetime | None:
    return job.scheduled_at or job.last_updated


def _order_key(job: Job) -> tuple[int, str]:
    moment = _moment(job)
    return (0 if moment is None else 1, iso(moment) or "")


def chains(jobs: Iterable[Job]) -> list[JobChain]:
    """Group jobs into chains by `retryFromID` (own ID, empty, previous or first attempt).

    Chains are sorted by their latest attempt, oldest first; attempts by scheduling time.
    """
    by_id = {job.id: job for job in jobs}
    parent: dict[str, str] = {job_id: job_id for job_id in by_id}

    def root(job_id: str) -> str:
        # Bounded by the number of jobs: every step moves to a distinct ancestor.
        for _ in range(len(parent) + 1):
            if parent[job_id] == job_id:
                return job_id
            parent[job_id] = parent[parent[job_id]]
            job_id = parent[job_id]
        return job_id

    for job in by_id.values():
        link = job.retry_from_id
        if link and link != job.id and link in by_id:
            a, b = root(job.id), root(link)
            if a != b:
                parent[a] = b
    groups: dict[str, list[Job]] = {}
    for job in by_id.values():
        groups.setdefault(root(job.id), []).append(job)
    result = [
        JobChain(members[0].action, tuple(sorted(members, key=_order_key)))
        for members in groups.values()
    ]
    return sorted(result, key=lambda chain: _order_key(chain.latest))


def scheduled_since(job: Job, since: datetime | None, slack: timedelta) -> bool:
    """Whether `job` was scheduled (or last updated) at or after `since`, less `slack`."""
    if since is None:
        return True
    moment = _moment(job)
    return moment is not None and moment >= since - slack


@dataclass(frozen=True)
class JobReview:
    """The jobs scheduled since a moment, each judged by the final state of its chain.

    DTR's job states (upgrade.clients.dtr_records, fidelity-review.md 8): a job's record moves
    on after it is first seen (`worker_dead` jobs are claimed by other replicas, `cancel_request`
    is transitional) and a retry is a new record linked by `retryFromID`, so a job is judged by
    the latest attempt of its chain, never by an attempt on the way.
    """

    errored: tuple[Job, ...]
    """The latest attempt failed and no later run of the same job ended `done`."""
    recovered: tuple[Job, ...]
    """Attempts that failed or were cut, whose chain (or a later run of the same action and
    parameters: a re-trigger by hand) ended `done`."""
    interrupted: tuple[Job, ...]
    """The latest attempt's worker went away (`worker_dead`, `worker_shutdown`): the job was
    cut, as replacing the jobrunner containers in a rolling upgrade does, it did not fail."""
    pending: tuple[Job, ...]
    """The latest attempt has not finished (`waiting`, `running`, `cancel_request`) after an
    earlier attempt failed or was cut."""


def review_since(
    jobs: Sequence[Job], since: datetime, *, slack: timedelta = timedelta(0)
) -> JobReview:
    """Judge every chain of `jobs` with an attempt scheduled at or after `since` (less `slack`).

    `jobs` may hold older jobs too: they only link retries to their first attempts.
    """
    all_chains = chains(jobs)
    recent = [c for c in all_chains if any(scheduled_since(j, since, slack) for j in c.attempts)]
    errored: list[Job] = []
    recovered: list[Job] = []
    interrupted: list[Job] = []
    pending: list[Job] = []
    for chain in recent:
        latest = chain.latest
        cut_or_failed = [j for j in chain.attempts if j.failed or j.interrupted]
        if latest.done or (
            (latest.finished or latest.interrupted) and _rerun_done(latest, all_chains)
        ):
            recovered += cut_or_failed
        elif latest.failed:
            errored.append(latest)
        elif latest.interrupted:
            interrupted.append(latest)
        elif cut_or_failed:
            pending.append(latest)
    return JobReview(tuple(errored), tuple(recovered), tuple(interrupted), tuple(pending))


def _rerun_done(job: Job, all_chains: Sequence[JobChain]) -> bool:
    """Whether a later, separate run of `job`'s action with the same parameters ended `done`
    (the guide's re-trigger by hand, `POST /api/v0/jobs`, starts a chain of its own)."""
    return any(
        chain.done
        and chain.action == job.action
        and chain.latest.parameters == job.parameters
        and _order_key(chain.latest) > _order_key(job)
        for chain in all_chains
    )
