"""DTR's job runner: jobs go waiting -> running -> done / errored, failed jobs are retried as new
job records linked by retryFromID, and every job keeps its log lines, written as logrus text
(`time="..." level=info msg="..."`, as real job logs are: fidelity-review.md 15).

A cancel passes through `cancel_request` (the worker acts on it). When a replica's jobrunner
container is replaced (`worker_stopped`), its running jobs are asked to stop (`cancel_request`)
and then end as the job-queue documentation names it (fidelity-review.md 8): `worker_shutdown`
for a gracefully stopped worker (a job with retries left is retried as a new record), or
`worker_dead`, after which another replica claims the same job.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dtrlab.job_actions import ACTIONS, MESSAGES, cron_next_run, logrus_line
from dtrlab.store import iso

# ACTIONS and cron_next_run are read from here by the jobs API.
__all__ = [
    "ACTIONS",
    "FINISHED",
    "Job",
    "JobRunner",
    "JobRunnerError",
    "cron_next_run",
    "is_finished",
]

# Statuses that mean the job is over; clients may also read DTR's older words (see is_finished).
FINISHED = ("done", "errored", "canceled", "worker_shutdown")
# How long a worker takes to act on a cancel request or on its container being stopped.
STOP_DELAY_S = 0.2

FailurePolicy = Callable[["Job"], "str | None"]
JobObserver = Callable[["Job"], None]


@dataclass
class Job:
    """One job record, shaped as `tmpresponses.Job` by to_json()."""

    id: str
    action: str
    retry_from_id: str
    retries_left: int
    retries_total: int
    scheduled_at: datetime
    parameters: dict[str, str]
    capacity_map: dict[str, int]
    deadline: str
    stop_timeout: str
    origin: str
    duration: float
    status: str = "waiting"
    worker_id: str = ""
    last_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    logs: list[str] = field(default_factory=list)
    # What losing its worker does to the job: "shutdown" (worker_shutdown) or "dead"
    # (worker_dead, then claimed by another replica).
    on_worker_loss: str = "shutdown"

    def to_json(self) -> dict[str, Any]:
        """The job as the jobs API shows it."""
        return {
            "id": self.id,
            "retryFromID": self.retry_from_id,
            "workerID": self.worker_id,
            "status": self.status,
            "scheduledAt": iso(self.scheduled_at),
            "lastUpdated": iso(self.last_updated),
            "action": self.action,
            "retriesLeft": self.retries_left,
            "retriesTotal": self.retries_total,
            "capacityMap": dict(self.capacity_map),
            "parameters": dict(self.parameters),
            "deadline": self.deadline,
            "stopTimeout": self.stop_timeout,
        }


class JobRunnerError(Exception):
    """A job request the runner refuses: the status and DTR error code to answer with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class JobRunner:
    """Schedules jobs on the lab's replicas with a background thread and a monotonic clock."""

    def __init__(
        self,
        job_time: float,
        workers: Callable[[], list[str]],
        failure_policy: FailurePolicy,
        observer: JobObserver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_time = job_time
        self._workers = workers
        self._failure_policy = failure_policy
        self._observer = observer
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._timeline: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._next_worker = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lab-jobrunner", daemon=True)

    def start(self) -> None:
        """Start the scheduler thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the scheduler thread and wait for it."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(5.0)

    # -- submission --------------------------------------------------------------------------

    def submit(
        self,
        action: str,
        parameters: dict[str, str] | None = None,
        retries: int = 0,
        origin: str = "api",
        duration: float | None = None,
        capacity_map: dict[str, int] | None = None,
        deadline: str = "",
        stop_timeout: str = "",
        retry_of: Job | None = None,
        on_worker_loss: str = "shutdown",
    ) -> Job:
        """Queue a job (status waiting) and return it."""
        if action not in ACTIONS:
            raise JobRunnerError(
                400,
                "INVALID_JOB_ACTION",
                f"unknown job action {action!r}; valid: {', '.join(ACTIONS)}",
            )
        if retries < 0:
            raise JobRunnerError(400, "INVALID_PARAMETERS", "retries must not be negative")
        job_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        job = Job(
            id=job_id,
            action=action,
            retry_from_id=retry_of.id if retry_of else job_id,
            retries_left=retry_of.retries_left - 1 if retry_of else retries,
            retries_total=retry_of.retries_total if retry_of else retries,
            scheduled_at=now,
            parameters=dict(parameters or {}),
            capacity_map=dict(capacity_map or {}),
            deadline=deadline,
            stop_timeout=stop_timeout,
            origin=retry_of.origin if retry_of else origin,
            duration=self.job_time if duration is None else duration,
            last_updated=now,
            on_worker_loss=retry_of.on_worker_loss if retry_of else on_worker_loss,
        )
        with self._cond:
            self._jobs[job_id] = job
            self._order.append(job_id)
            self._schedule(self.job_time * 0.2, job_id, "claim")
        return job

    def _schedule(self, delay: float, job_id: str, step: str) -> None:
        if math.isinf(delay):
            return
        heapq.heappush(self._timeline, (self._clock() + delay, next(self._seq), job_id, step))
        self._cond.notify_all()

    def claim_now(self, job_id: str) -> None:
        """Let a worker claim a waiting job at once (a job already running when the lab starts)."""
        with self._cond:
            job = self._jobs[job_id]
            if job.status == "waiting":
                self._advance(job, "claim")

    # -- queries -----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        """The job with `job_id`, or None."""
        with self._cond:
            return self._jobs.get(job_id)

    def query(
        self,
        action: str = "any",
        worker: str = "any",
        running: str = "any",
        start: int = 0,
        limit: int = 10,
    ) -> list[Job]:
        """Jobs newest first, filtered as GET /api/v0/jobs filters them."""
        with self._cond:
            jobs = [self._jobs[i] for i in reversed(self._order)]
        if action != "any":
            jobs = [j for j in jobs if j.action == action]
        if worker != "any":
            jobs = [j for j in jobs if j.worker_id == worker]
        if running in ("true", "false"):
            want = running == "true"
            jobs = [j for j in jobs if (j.status == "running") == want]
        return jobs[start : start + limit] if limit > 0 else jobs[start:]

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        with self._cond:
            return [self._jobs[i] for i in self._order]

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds after a job transition, at most `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    # -- control -----------------------------------------------------------------------------

    def cancel(self, job_id: str) -> bool:
        """Ask a waiting or running job to stop (`cancel_request`); the worker ends it
        `canceled` shortly after. False when there is no such job."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            if job.status not in FINISHED and job.status != "cancel_request":
                job.status = "cancel_request"
                job.last_updated = datetime.now(UTC)
                self._log(job, "info", "cancel requested")
                self._schedule(STOP_DELAY_S, job.id, "cancel")
                self._cond.notify_all()
            return True

    def worker_stopped(self, worker_id: str) -> list[Job]:
        """The jobrunner container of `worker_id` is being replaced: its running jobs are asked
        to stop (`cancel_request`) and end as their worker loss says shortly after."""
        with self._cond:
            cut = [
                j for j in self._jobs.values() if j.worker_id == worker_id and j.status == "running"
            ]
            for job in cut:
                job.status = "cancel_request"
                job.last_updated = datetime.now(UTC)
                self._log(job, "warning", f"jobrunner {worker_id} is stopping")
                self._schedule(STOP_DELAY_S, job.id, "lose-worker")
            self._cond.notify_all()
            return cut

    def delete(self, job_id: str) -> bool:
        """Cancel and forget a job; False when there is no such job."""
        with self._cond:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            self._order.remove(job_id)
            if job.status not in FINISHED:
                job.status = "canceled"
            self._cond.notify_all()
            return True

    # -- the scheduler -----------------------------------------------------------------------

    def _log(self, job: Job, level: str, message: str, **fields: str) -> None:
        job.logs.append(logrus_line(level, message, **fields))

    def _finish(self, job: Job, status: str, message: str, **fields: str) -> None:
        job.status = status
        job.last_updated = datetime.now(UTC)
        self._log(job, "info" if status == "done" else "error", message, **fields)
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            observed: list[Job] = []
            with self._cond:
                if self._stopping:
                    return
                if not self._timeline:
                    self._cond.wait(1.0)
                    continue
                due = self._timeline[0][0] - self._clock()
                if due > 0:
                    self._cond.wait(min(due, 1.0))
                    continue
                _, _, job_id, step = heapq.heappop(self._timeline)
                job = self._jobs.get(job_id)
                if job is not None and job.status not in FINISHED:
                    observed.extend(self._step(job, step))
            for item in observed:
                self._observer(item)

    def _step(self, job: Job, step: str) -> list[Job]:
        """One timeline step; a job asked to stop only takes the stopping steps."""
        if job.status == "cancel_request" and step not in ("cancel", "lose-worker"):
            return []
        if step == "cancel":
            self._finish(job, "canceled", "job canceled by request")
            return [job]
        if step == "lose-worker":
            return self._lose_worker(job)
        if step == "claim" and job.status not in ("waiting", "worker_dead"):
            return []
        if step == "finish" and job.status != "running":
            return []
        return self._advance(job, step)

    def _retry(self, job: Job, duration: float) -> Job:
        """Submit `job` again, `duration` long: a retry keeps its action, parameters, capacity
        map, deadline and stop timeout."""
        return self.submit(
            job.action,
            job.parameters,
            retry_of=job,
            duration=duration,
            capacity_map=job.capacity_map,
            deadline=job.deadline,
            stop_timeout=job.stop_timeout,
        )

    def _lose_worker(self, job: Job) -> list[Job]:
        worker = job.worker_id
        job.last_updated = datetime.now(UTC)
        if job.on_worker_loss == "dead":
            job.status = "worker_dead"
            job.duration = self.job_time  # what is left of the work, for the next claimer
            self._log(job, "warning", "worker is gone; the job can be claimed again", worker=worker)
            self._schedule(self.job_time * 0.2 or 0.05, job.id, "claim")
            self._cond.notify_all()
            return [job]
        job.status = "worker_shutdown"
        self._log(job, "warning", "worker shut down gracefully", worker=worker)
        if job.retries_left > 0:
            retry = self._retry(job, self.job_time)
            self._log(job, "info", f"retrying as job {retry.id}", retries=str(job.retries_left))
        self._cond.notify_all()
        return [job]

    def _advance(self, job: Job, step: str) -> list[Job]:
        if step == "claim":
            workers = self._workers()
            if not workers:
                self._schedule(self.job_time * 0.2 or 0.05, job.id, "claim")
                return []
            job.worker_id = workers[next(self._next_worker) % len(workers)]
            job.status = "running"
            job.last_updated = datetime.now(UTC)
            self._log(job, "info", f"Starting {job.action} job on worker {job.worker_id}")
            for line in MESSAGES.get(job.action, ())[:-1]:
                self._log(job, "info", line)
            self._schedule(job.duration, job.id, "finish")
            self._cond.notify_all()
            return [job]
        failure = self._failure_policy(job)
        if failure is None:
            for line in MESSAGES.get(job.action, ())[-1:]:
                self._log(job, "info", line)
            self._finish(job, "done", f"{job.action} job finished")
            return [job]
        self._finish(job, "errored", f"{job.action} job failed", error=failure)
        if job.retries_left > 0:
            retry = self._retry(job, job.duration)
            self._log(job, "info", f"retrying as job {retry.id} ({job.retries_left} retries left)")
        return [job]


def is_finished(status: str) -> bool:
    """True for a status after which a job never changes again."""
    return status in FINISHED
