"""The vulnerability database after the upgrade: re-download it, as every upgrade guide says,
and verify that DTR holds a fresh one.

How the update is done (`--update-vuln-db`):

- `auto` (default): when this session ran the upgrade and scanning syncs online, trigger an
  online update (`PUT /api/v0/imagescan/scan/update?online=true`); otherwise only check.
- `online`: trigger an online update.
- a `.tar` file: upload it as the offline database (`?online=false`, multipart field `file`).
- `check`: trigger nothing, only check.

A triggered update is followed until its `update_vuln_db` job (older name
`nautilus_update_db`) ends. Then `GET /api/v0/imagescan/status` must show no failed update, and
the update must have happened: an update job that ended `done` since the upgrade began, or (no
such job) a database updated after the upgrade began. A `done` job is enough on its own: the
online update applies a database only "if an update is found" (set-up-vulnerability-scans.md)
and updates the scanning store "if there is a new update available" (job-queue.md), so an
update that finds nothing newer leaves `db_updated_at` as it was (fidelity-review.md 9). A
stale or failed database is reported with the action that fixes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from upgrade.clients.dtr_records import Job, ScanStatus
from upgrade.clients.errors import APIError
from upgrade.cluster.job_rules import JobChain
from upgrade.cluster.jobs import (
    DEFAULT_INTERVAL_S,
    JobsAPI,
    JobTimedOut,
    curl_command,
    find_chain,
    log_tail,
)
from upgrade.errors import HarnessError
from upgrade.evidence.records import iso, utc_now

__all__ = [
    "DOCKER_SOURCE",
    "UPDATE_ACTIONS",
    "UpdatePlan",
    "VulnDBAPI",
    "VulnDBOutcome",
    "choose",
    "fix_for",
    "judge",
    "online_source",
    "update_and_verify",
]

UPDATE_ACTIONS = ("update_vuln_db", "nautilus_update_db")
UPDATE_PATH = "/api/v0/imagescan/scan/update"
# Where DTR fetches the database online: Docker's server for the Docker-era DTR
# (set-up-vulnerability-scans.md, dtr-facts.md 7, S17; job-queue.md's update_vuln_db). MSR from
# Mirantis (the bootstrapper in mirantis/dtr from 2.6.15, 2.7.8 and 2.8.2, registry.mirantis.com/
# msr/dtr for 2.10: dtr-facts.md 1, launchpad msr_config.go) uses Mirantis' server, whose address
# the sources do not give (dtr-facts.md 9, fidelity-review.md 9): the fix text says so instead of
# naming Docker's.
DOCKER_SOURCE = "https://dss-cve-updates.docker.com/"
MIRANTIS_SOURCE = (
    "the vulnerability database server of Mirantis (MSR does not use Docker's "
    f"{DOCKER_SOURCE}; its address is in the MSR documentation of your release)"
)
UNKNOWN_SOURCE = f"{DOCKER_SOURCE} (DTR from Docker; MSR from Mirantis uses Mirantis' server)"
LEGACY_REPOSITORY = "docker/dtr"

How = Literal["online", "offline", "check"]


class VulnDBAPI(JobsAPI, Protocol):
    """The part of `DTRClient` the vulnerability database functions use."""

    def imagescan_status(self) -> ScanStatus | None:
        """`GET /api/v0/imagescan/status`; None when scanning is off."""

    def update_vuln_db(self, online: bool = True, file: Path | None = None) -> None:
        """`PUT /api/v0/imagescan/scan/update`."""


@dataclass(frozen=True)
class UpdatePlan:
    """What the session does about the database, and why."""

    how: How
    reason: str
    file: Path | None = None
    sync_online: bool = True


def choose(mode: str, file: Path | None, *, ran_upgrade: bool, sync_online: bool) -> UpdatePlan:
    """Turn `--update-vuln-db` (auto, online, check, or a file given as `file`) into a plan."""
    if file is not None:
        return UpdatePlan("offline", f"upload the offline database {file.name}", file, sync_online)
    if mode == "online":
        return UpdatePlan("online", "--update-vuln-db=online", None, sync_online)
    if mode == "check":
        return UpdatePlan("check", "--update-vuln-db=check: only checked", None, sync_online)
    if mode != "auto":
        raise HarnessError(
            f"--update-vuln-db {mode!r}: expected auto, online, check or a database .tar file"
        )
    if not ran_upgrade:
        return UpdatePlan(
            "check",
            "auto: this session did not run the upgrade, so it only checks",
            None,
            sync_online,
        )
    if not sync_online:
        return UpdatePlan(
            "check",
            "auto: scanning syncs offline, so the database must be uploaded "
            "(--update-vuln-db=FILE); only checked",
            None,
            sync_online,
        )
    return UpdatePlan(
        "online", "auto: this session ran the upgrade and scanning syncs online", None, sync_online
    )


@dataclass(frozen=True)
class VulnDBOutcome:
    """The database after the session's update (if any): status, job, problems, the fix."""

    plan: UpdatePlan
    since: datetime
    status: ScanStatus | None
    status_before: ScanStatus | None = None
    chain: JobChain | None = None
    job_log: list[str] = field(default_factory=list)
    problems: tuple[str, ...] = ()
    action: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No failed update and a database newer than the upgrade."""
        return not self.problems

    def evidence(self) -> dict[str, Any]:
        """Everything an auditor needs to see the database was refreshed."""
        return {
            "how": self.plan.how,
            "why": self.plan.reason,
            "file": self.plan.file.name if self.plan.file else None,
            "upgrade_began": iso(self.since),
            "status_before": _status(self.status_before),
            "status": _status(self.status),
            "update_job": self.chain.summary() if self.chain else None,
            "update_job_log": self.job_log,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def _status(status: ScanStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "db_version": status.db_version,
        "db_updated_at": iso(status.db_updated_at),
        "lastDBUpdateFailed": status.last_db_update_failed,
        "lastVulnOverridesDBUpdateFailed": status.last_vuln_overrides_db_update_failed,
        "scanner_version": status.scanner_version,
    }


def online_source(bootstrapper_repository: str | None) -> str:
    """The online update source to name for a product line: Docker's server when the target
    version's bootstrapper is the legacy `docker/dtr` (a mirror's path ends with it), Mirantis'
    server for `mirantis/dtr` and `msr/dtr`, both when the version is not known."""
    if bootstrapper_repository is None:
        return UNKNOWN_SOURCE
    if bootstrapper_repository.rstrip("/").endswith(LEGACY_REPOSITORY):
        return DOCKER_SOURCE
    return MIRANTIS_SOURCE


def fix_for(
    plan: UpdatePlan,
    dtr_url: str,
    secret_variable: str,
    ca_file: Path | None = None,
    *,
    source: str = DOCKER_SOURCE,
) -> str:
    """What the operator does about a stale or failed database, for this plan; `source` is
    where the replicas fetch it online (`online_source`)."""
    online = curl_command(
        "PUT",
        f"{dtr_url.rstrip('/')}{UPDATE_PATH}?online=true",
        secret_variable=secret_variable,
        ca_file=ca_file,
    )
    if plan.how == "online":
        return (
            f"check that every replica reaches {source} on port 443 (proxy settings in "
            f"System > General), then update again: {online}; or upload the offline database "
            "with --update-vuln-db=FILE"
        )
    if plan.how == "offline" or not plan.sync_online:
        return (
            "upload the current offline database .tar (--update-vuln-db=FILE, or System > "
            "Security > Upload .tar database file)"
        )
    return f"update the database: --update-vuln-db=online, or {online}"


def update_and_verify(
    dtr: VulnDBAPI,
    plan: UpdatePlan,
    since: datetime,
    timeout_s: float,
    *,
    fix: str,
    slack: timedelta = timedelta(0),
    interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = utc_now,
) -> VulnDBOutcome:
    """Trigger the planned update, follow its job for at most `timeout_s`, then judge
    `imagescan/status` against `since` (the moment the upgrade began).

    Scanning must be enabled (the caller skips otherwise). `fix` is the action shown with a
    problem. Job-runner and API failures become problems; only bad input raises.
    """
    before = dtr.imagescan_status()
    problems: list[str] = []
    chain: JobChain | None = None
    job_log: list[str] = []
    if plan.how == "check":
        # Nothing triggered: judge the update job that ran since the upgrade began, if one did.
        chain = _latest_update(dtr, since, slack)
        if chain is not None and not chain.finished:
            chain = None
    else:
        triggered_at = now()
        follow_since: datetime | None = triggered_at
        try:
            dtr.update_vuln_db(online=plan.how == "online", file=plan.file)
        except APIError as exc:
            if exc.status != 400 or exc.code != "SCANNING_DB_NOT_READY":
                raise
            follow_since = None  # an update is already running: follow that one
        try:
            chain = _wait_for_update(dtr, follow_since, timeout_s, slack, interval_s, clock, sleep)
        except JobTimedOut as exc:
            problems.append(str(exc))
        else:
            if chain is None:
                problems.append(
                    f"no update_vuln_db job appeared within {timeout_s:g} s of "
                    "PUT /api/v0/imagescan/scan/update (--vuln-db-timeout)"
                )
    if chain is not None:
        job_log = log_tail(dtr, chain.latest)
        if chain.latest.failed:
            errors = [line for line in job_log if line.startswith(("error:", "fatal:", "panic:"))]
            last = (errors or job_log or [""])[-1]
            problems.append(
                f"the {chain.latest.action} job {chain.latest.id} ended "
                f"{chain.latest.status}" + (f": {last}" if last else "")
            )
    updated_by = chain.latest if chain is not None and chain.done else None
    status = dtr.imagescan_status()
    notes: list[str] = []
    if status is None:
        problems.append("imagescan/status says scanning is not enabled any more")
    else:
        problems += judge(status, since, slack, updated_by=updated_by)
        if updated_by is not None and _stale(status, since, slack):
            notes.append(
                f"the {updated_by.action} job {updated_by.id} ended done and the database "
                f"stayed at version {status.db_version}, updated {iso(status.db_updated_at)}: no "
                "newer database was found, which the update then leaves as it is. Assumed: "
                "db_updated_at is when the database in use was published or applied (its "
                "meaning is not documented), so the job's outcome is what is judged"
            )
    return VulnDBOutcome(
        plan=plan,
        since=since,
        status=status,
        status_before=before,
        chain=chain,
        job_log=job_log,
        problems=tuple(problems),
        action=fix if problems else "",
        notes=tuple(notes),
    )


def _stale(status: ScanStatus, since: datetime, slack: timedelta) -> bool:
    return status.db_updated_at is None or status.db_updated_at < since - slack


def judge(
    status: ScanStatus,
    since: datetime,
    slack: timedelta = timedelta(0),
    *,
    updated_by: Job | None = None,
) -> list[str]:
    """What is wrong with the database DTR reports, relative to the upgrade's start.

    `updated_by` is an update job that ended `done` since the upgrade began: with one, an
    unchanged `db_updated_at` is no problem (the update found nothing newer); without one, the
    database must have been updated after the upgrade began.
    """
    problems = []
    if status.last_db_update_failed:
        problems.append("imagescan/status reports that the last database update failed")
    if status.last_vuln_overrides_db_update_failed:
        problems.append(
            "imagescan/status reports that the last vulnerability overrides update failed"
        )
    updated = status.db_updated_at
    if updated_by is not None:
        return problems
    if updated is None:
        problems.append("the vulnerability database was never updated (no db_updated_at)")
    elif updated < since - slack:
        problems.append(
            f"the vulnerability database (version {status.db_version}) was last updated at "
            f"{iso(updated)}, before the upgrade began ({iso(since)}), and no update job ended "
            "done since"
        )
    return problems


def _latest_update(dtr: VulnDBAPI, since: datetime | None, slack: timedelta) -> JobChain | None:
    found = [chain for chain in _update_chains(dtr, since, slack) if chain is not None]
    return max(found, key=lambda c: iso(c.latest.scheduled_at) or "", default=None)


def _wait_for_update(
    dtr: VulnDBAPI,
    since: datetime | None,
    timeout_s: float,
    slack: timedelta,
    interval_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> JobChain | None:
    """The update job's chain once it finished; None when none appeared in time."""
    deadline = clock() + timeout_s
    while True:
        latest = _latest_update(dtr, since, slack)
        if latest is not None and latest.finished:
            return latest
        remaining = deadline - clock()
        if remaining <= 0:
            if latest is None:
                return None
            raise JobTimedOut(
                "the vulnerability database update", timeout_s, latest.latest, "--vuln-db-timeout"
            )
        sleep(min(interval_s, remaining))


def _update_chains(
    dtr: VulnDBAPI, since: datetime | None, slack: timedelta
) -> list[JobChain | None]:
    chains = [find_chain(dtr, UPDATE_ACTIONS[0], since, slack=slack)]
    for alias in UPDATE_ACTIONS[1:]:
        try:
            chains.append(find_chain(dtr, alias, since, slack=slack))
        except APIError:
            # Releases that no longer know the old action name may refuse it as a filter.
            chains.append(None)
    return chains
