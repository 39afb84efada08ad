"""Waiting for DTR jobs, following a migration through its retries, and re-triggering one.

What a job's attempts mean (chains linked by `retryFromID`, blocking actions, failures a later
attempt recovered) is `upgrade.cluster.job_rules`; this module asks DTR and waits: for the
2.5 -> 2.6 `metadatastoremigration` the guide promises two retries, so three failed attempts mean
the job must be re-triggered by hand with `POST /api/v0/jobs {"action": "metadatastoremigration"}`.

Every wait here is bounded and takes an injectable clock and sleep, so tests never sleep.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from upgrade.clients.dtr_records import Features, Job, JobLogLine
from upgrade.cluster.job_logs import readable, surface_errors
from upgrade.cluster.job_rules import JobChain, chains, scheduled_since
from upgrade.errors import HarnessError
from upgrade.evidence.records import iso

__all__ = [
    "JobTimedOut",
    "JobsAPI",
    "MigrationOutcome",
    "curl_command",
    "curl_submit_job",
    "find_chain",
    "follow_migration",
    "log_tail",
    "metadata_store_migrated",
    "readable",
    "wait_for_chain",
    "wait_for_job",
]

DEFAULT_INTERVAL_S = 0.5
JOB_LIST_LIMIT = 200
LOG_TAIL_LINES = 5
RETRY_GRACE_S = 30.0


class JobsAPI(Protocol):
    """The part of `DTRClient` the job functions use (a fake in unit tests)."""

    def jobs(
        self,
        action: str = "any",
        running: str = "any",
        worker: str = "any",
        *,
        limit: int = 1000,
        page_size: int = 100,
    ) -> list[Job]:
        """Jobs, most recently scheduled first."""

    def job(self, job_id: str) -> Job:
        """One job by ID."""

    def job_logs(self, job_id: str) -> tuple[JobLogLine, ...]:
        """One job's log lines, in order."""

    def submit_job(self, action: str, parameters: Any = None) -> Job:
        """Schedule a job (`POST /api/v0/jobs`)."""


class FeaturesAPI(Protocol):
    """The part of `DTRClient` that reads `GET /api/v0/meta/features`."""

    def features(self) -> Features:
        """`responses.Features`."""


def metadata_store_migrated(dtr: FeaturesAPI) -> str | None:
    """What shows the metadata store already migrated (`features.metadataStoreOptedIn`, a
    required field of `responses.Features` in the 2.6/2.7 Swagger), None when it is not.

    On 2.5, enabling online garbage collection performs the metadata store migration ("After a
    successful upgrade, the system will run a `metadatastoremigration` job",
    garbage-collection.md; fidelity-review.md 7): a cluster that did so needs none after the
    2.5 -> 2.6 upgrade. Whether 2.6 runs it again there is not documented; the harness assumes it
    need not and says so, and a job that does run is still judged by POST-JOBS-NO-ERRORS.
    """
    if not dtr.features().metadata_store_opted_in:
        return None
    return (
        "features.metadataStoreOptedIn is true: the metadata store is already migrated (on 2.5 "
        "enabling online garbage collection migrates it), so no job is expected. Assumed: 2.6 "
        "does not migrate a store that opted in again (undocumented); a job that does run is "
        "judged by POST-JOBS-NO-ERRORS"
    )


class JobTimedOut(HarnessError):
    """A job (or a job action) did not finish within the time allowed."""

    def __init__(self, what: str, timeout_s: float, last: Job | None, option: str) -> None:
        self.last = last
        status = f"; last seen {last.status} (job {last.id})" if last is not None else ""
        super().__init__(
            f"{what} did not finish within {timeout_s:g} s{status}; follow it in DTR "
            f"(System > Job Logs) and raise {option} if it is still making progress"
        )


def find_chain(
    dtr: JobsAPI,
    action: str,
    since: datetime | None = None,
    *,
    slack: timedelta = timedelta(0),
) -> JobChain | None:
    """The most recent chain of `action` with an attempt scheduled at or after `since`."""
    jobs = dtr.jobs(action=action, limit=JOB_LIST_LIMIT)
    recent = [job for job in jobs if job.action == action]
    found = [c for c in chains(recent) if any(scheduled_since(j, since, slack) for j in c.attempts)]
    return found[-1] if found else None


def wait_for_job(
    dtr: JobsAPI,
    job_id: str,
    timeout_s: float,
    *,
    option: str = "the timeout",
    interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Job:
    """Poll `GET /api/v0/jobs/{id}` until the job finished; raise `JobTimedOut` after
    `timeout_s` (naming `option`, the setting that raises it)."""
    deadline = clock() + timeout_s
    while True:
        job = dtr.job(job_id)
        if job.finished:
            return job
        remaining = deadline - clock()
        if remaining <= 0:
            raise JobTimedOut(f"job {job_id} ({job.action})", timeout_s, job, option)
        sleep(min(interval_s, remaining))


def wait_for_chain(
    dtr: JobsAPI,
    action: str,
    since: datetime | None,
    timeout_s: float,
    *,
    option: str = "the timeout",
    slack: timedelta = timedelta(0),
    interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> JobChain | None:
    """Wait until the latest chain of `action` since `since` is done or failed for good.

    Returns None when no such job appeared within `timeout_s`; raises `JobTimedOut` when one
    appeared but is still pending (or still being retried) at the deadline.
    """
    deadline = clock() + timeout_s
    while True:
        chain = find_chain(dtr, action, since, slack=slack)
        if chain is not None and chain.finished:
            return chain
        remaining = deadline - clock()
        if remaining <= 0:
            if chain is None:
                return None
            raise JobTimedOut(f"the {action} job", timeout_s, chain.latest, option)
        sleep(min(interval_s, remaining))


def log_tail(dtr: JobsAPI, job: Job, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a job's log made readable (`level: msg (fields)` from logrus
    text or JSON lines, `upgrade.cluster.job_logs`), preceded by the error lines that came
    before them; an unreadable log is said, not raised."""
    try:
        log = dtr.job_logs(job.id)
    except HarnessError as exc:
        return [f"(log not readable: {exc})"]
    return surface_errors([entry.data for entry in log], lines)


def curl_command(
    method: str,
    url: str,
    *,
    body: Any = None,
    secret_variable: str = "DTR_TOKEN",  # noqa: S107 - the name of a variable, not a secret
    ca_file: Path | None = None,
) -> str:
    """A curl command for one DTR API call, the credentials written as shell variables
    (`"$DTR_USERNAME:$DTR_TOKEN"`), never as their values."""
    parts = ["curl", "-u", f'"$DTR_USERNAME:${secret_variable}"', "-X", method]
    if body is not None:
        parts += ["-H", shlex.quote("Content-Type: application/json")]
    if ca_file is not None:
        parts += ["--cacert", shlex.quote(str(ca_file))]
    parts.append(shlex.quote(url))
    if body is not None:
        parts += ["-d", shlex.quote(json.dumps(body, separators=(",", ":")))]
    return " ".join(parts)


def curl_submit_job(
    dtr_url: str,
    action: str,
    secret_variable: str = "DTR_TOKEN",  # noqa: S107 - the name of a variable, not a secret
    ca_file: Path | None = None,
) -> str:
    """The guide's request to schedule `action` by hand (`POST /api/v0/jobs`) on `dtr_url`."""
    return curl_command(
        "POST",
        f"{dtr_url.rstrip('/')}/api/v0/jobs",
        body={"action": action},
        secret_variable=secret_variable,
        ca_file=ca_file,
    )


@dataclass(frozen=True)
class MigrationOutcome:
    """How one migration job of a hop ended: the job runner's attempts, the manual one, and
    what is wrong (None when the migration is done)."""

    action: str
    hop: str
    expected_attempts: int | None
    chain: JobChain | None
    manual: Job | None
    request: str
    logs: dict[str, list[str]]
    problem: str | None
    note: str = ""

    @property
    def done(self) -> bool:
        """The migration finished `done` (by the job runner or by the manual re-trigger)."""
        return self.problem is None

    def evidence(self) -> dict[str, Any]:
        """The outcome as evidence: every attempt, the manual one, logs, the request."""
        manual = JobChain(self.action, (self.manual,)).summary()[0] if self.manual else None
        return {
            "action": self.action,
            "hop": self.hop,
            "expected_attempts": self.expected_attempts,
            "attempts": self.chain.summary() if self.chain else [],
            "failed_attempts": len(self.chain.failed_attempts) if self.chain else 0,
            "manual_attempt": manual,
            "log_tails": self.logs,
            "manual_request": self.request,
            "note": self.note,
        }


def follow_migration(
    dtr: JobsAPI,
    action: str,
    hop: str,
    since: datetime | None,
    timeout_s: float,
    *,
    request: str,
    retrigger: bool,
    expected_attempts: int | None = None,
    done_without_job: Callable[[], str | None] | None = None,
    option: str = "--migration-timeout",
    slack: timedelta = timedelta(0),
    interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MigrationOutcome:
    """Wait for the migration job `action` of `hop` to end; re-trigger it once by hand when the
    job runner gave up and `retrigger` is set (the guide's `POST /api/v0/jobs`).

    `request` is the exact call an operator makes instead, shown when the migration is not done.
    The whole follow-up, manual attempt included, is bounded by `timeout_s`.

    `done_without_job`, when given, is asked once if no job of `action` is on record since
    `since` (job history is compacted, so an upgrade done by hand long ago may have left none):
    it returns what shows the migration done anyway (e.g. a feature flag), or None.
    """
    deadline = clock() + timeout_s

    def remaining() -> float:
        return max(deadline - clock(), 0.0)

    waits: dict[str, Any] = {"interval_s": interval_s, "clock": clock, "sleep": sleep}
    logs: dict[str, list[str]] = {}
    chain: JobChain | None = None
    manual: Job | None = None
    if done_without_job is not None and find_chain(dtr, action, since, slack=slack) is None:
        shown = done_without_job()
        if shown:
            note = f"no {action} job on record since {iso(since)}; {shown}"
            return MigrationOutcome(
                action, hop, expected_attempts, None, None, request, logs, None, note
            )
    try:
        chain = wait_for_chain(dtr, action, since, remaining(), option=option, slack=slack, **waits)
        # A job runner that reports no retry left before the documented number of attempts
        # may still schedule one: give it a grace period per missing attempt (bounded).
        for _ in range(expected_attempts or 0):
            if chain is None or chain.done or len(chain.attempts) >= (expected_attempts or 0):
                break
            if not _grew(dtr, action, since, chain, min(RETRY_GRACE_S, remaining()), slack, waits):
                break
            chain = wait_for_chain(
                dtr, action, since, remaining(), option=option, slack=slack, **waits
            )
    except JobTimedOut as exc:
        latest = exc.last
        if latest is not None:
            logs[latest.id] = log_tail(dtr, latest)
        chain = find_chain(dtr, action, since, slack=slack)
        return MigrationOutcome(
            action, hop, expected_attempts, chain, None, request, logs, str(exc)
        )
    if chain is not None:
        for job in chain.failed_attempts:
            logs[job.id] = log_tail(dtr, job)
        if chain.done:
            return MigrationOutcome(
                action, hop, expected_attempts, chain, None, request, logs, None
            )
    if not retrigger:
        problem: str | None
        if chain is None:
            problem = (
                f"no {action} job ran since the upgrade began ({iso(since)}), within "
                f"{timeout_s:g} s ({option}); trigger it: {request} (or pass "
                "--retrigger-migrations)"
            )
        else:
            problem = (
                f"{action} failed {len(chain.failed_attempts)} time(s) and the job runner "
                f"gave up (last: job {chain.latest.id}, {chain.latest.status}); re-trigger it: "
                f"{request} (or pass --retrigger-migrations)"
            )
        return MigrationOutcome(action, hop, expected_attempts, chain, None, request, logs, problem)
    submitted = dtr.submit_job(action)
    try:
        manual = wait_for_job(dtr, submitted.id, remaining(), option=option, **waits)
    except JobTimedOut as exc:
        logs[submitted.id] = log_tail(dtr, submitted)
        return MigrationOutcome(
            action, hop, expected_attempts, chain, exc.last or submitted, request, logs, str(exc)
        )
    logs[manual.id] = log_tail(dtr, manual)
    problem = None
    if not manual.done:
        problem = (
            f"the re-triggered {action} (job {manual.id}) ended {manual.status} too; read its "
            f"log (System > Job Logs) and fix the cause, then re-trigger it: {request}"
        )
    return MigrationOutcome(action, hop, expected_attempts, chain, manual, request, logs, problem)


def _grew(
    dtr: JobsAPI,
    action: str,
    since: datetime | None,
    chain: JobChain,
    grace_s: float,
    slack: timedelta,
    waits: dict[str, Any],
) -> bool:
    """Whether a further attempt joined `chain` within `grace_s`."""
    clock: Callable[[], float] = waits["clock"]
    sleep: Callable[[float], None] = waits["sleep"]
    end = clock() + grace_s
    while clock() < end:
        sleep(min(waits["interval_s"], end - clock()))
        latest = find_chain(dtr, action, since, slack=slack)
        if latest is not None and len(latest.attempts) > len(chain.attempts):
            return True
    return False
