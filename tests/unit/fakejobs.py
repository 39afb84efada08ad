"""A scripted DTR job runner and image scanner on a fake clock, for the job and vulnerability
database tests: events happen when the clock reaches their time, and the clock only moves when
the code under test sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.servers import FakeClock
from upgrade.clients.dtr_records import Features, Job, JobLogLine, ScanStatus
from upgrade.clients.errors import APIError

T0 = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def make_job(
    job_id: str,
    action: str = "metadatastoremigration",
    status: str = "done",
    *,
    retry_from: str | None = None,
    at: float = 0.0,
    retries_left: int = 0,
) -> Job:
    """A job scheduled `at` seconds after T0."""
    moment = T0 + timedelta(seconds=at)
    return Job(
        id=job_id,
        action=action,
        status=status,
        worker_id="5eb9459a7832",
        scheduled_at=moment,
        last_updated=moment,
        retries_left=retries_left,
        retries_total=2,
        retry_from_id=job_id if retry_from is None else retry_from,
        raw={},
    )


class FakeDTR:
    """Jobs, logs, image scanning status and the update trigger, driven by a timeline."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.start = clock.now
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self.logs: dict[str, list[str]] = {}
        self._timeline: list[tuple[float, Callable[[], None]]] = []
        self.submitted: list[str] = []
        self.on_submit: Callable[[Job], None] | None = None
        self.scan = ScanStatus(
            state=0,
            scanner_version=3,
            scanner_updated_at=T0 - timedelta(days=30),
            db_version=1,
            db_updated_at=T0 - timedelta(days=2),
            last_db_update_failed=False,
            last_vuln_overrides_db_update_failed=False,
            raw={},
        )
        self.scanning = True
        self.updates: list[tuple[bool, Path | None]] = []
        self.on_update: Callable[[], None] | None = None
        self.update_error: APIError | None = None
        self.calls = 0
        self.retries_reported = True
        self.metadata_store_opted_in = False

    # -- scripting -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The wall-clock time matching the fake monotonic clock."""
        return T0 + timedelta(seconds=self.clock.now - self.start)

    def at(self, seconds: float, event: Callable[[], None]) -> None:
        """Run `event` once the clock is `seconds` past the start."""
        self._timeline.append((self.start + seconds, event))

    def add(self, job: Job, *log: str) -> None:
        """Put a job (or its new state) on record (`retries_reported` False: as a job runner
        that shows no retry left on any attempt)."""
        if not self.retries_reported:
            job = replace(job, retries_left=0)
        if job.id not in self._jobs:
            self._order.append(job.id)
        self._jobs[job.id] = job
        self.logs.setdefault(job.id, []).extend(log)

    def set_status(self, job_id: str, status: str, *log: str) -> None:
        """Move a job to `status`."""
        self.add(replace(self._jobs[job_id], status=status, last_updated=self.now()), *log)

    def _tick(self) -> None:
        self.calls += 1
        due = [item for item in self._timeline if item[0] <= self.clock.now]
        self._timeline = [item for item in self._timeline if item[0] > self.clock.now]
        for _, event in due:
            event()

    # -- the API -------------------------------------------------------------------------------

    def jobs(
        self,
        action: str = "any",
        running: str = "any",
        worker: str = "any",
        *,
        limit: int = 1000,
        page_size: int = 100,
    ) -> list[Job]:
        """Newest first, filtered by action."""
        self._tick()
        jobs = [self._jobs[i] for i in reversed(self._order)]
        return [j for j in jobs if action in ("any", j.action)][:limit]

    def job(self, job_id: str) -> Job:
        """One job."""
        self._tick()
        return self._jobs[job_id]

    def job_logs(self, job_id: str) -> tuple[JobLogLine, ...]:
        """A job's log lines."""
        return tuple(JobLogLine(i, line) for i, line in enumerate(self.logs.get(job_id, [])))

    def submit_job(self, action: str, parameters: Any = None) -> Job:
        """Schedule a job now, waiting."""
        job_id = f"manual-{len(self.submitted) + 1}"
        job = replace(
            make_job(job_id, action, "waiting"), scheduled_at=self.now(), last_updated=self.now()
        )
        self.add(job)
        self.submitted.append(job_id)
        if self.on_submit is not None:
            self.on_submit(job)
        return job

    def features(self) -> Features:
        """`GET /api/v0/meta/features`: only metadataStoreOptedIn is scripted."""
        opted_in = self.metadata_store_opted_in
        return Features(True, True, opted_in, opted_in, 0, "ucp.example.com", raw={})

    def imagescan_status(self) -> ScanStatus | None:
        """None when scanning is off."""
        self._tick()
        return self.scan if self.scanning else None

    def update_vuln_db(self, online: bool = True, file: Path | None = None) -> None:
        """Record the trigger; the scripted `on_update` schedules what follows."""
        if self.update_error is not None:
            raise self.update_error
        self.updates.append((online, file))
        if self.on_update is not None:
            self.on_update()
