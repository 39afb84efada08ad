"""Post-upgrade: the hop's migration jobs finished, garbage collection is no longer blocked by
them, and no job errored since the upgrade began."""

from __future__ import annotations

from datetime import datetime

import pytest

from upgrade.clients.dtr_records import Job
from upgrade.cluster.job_rules import METADATA_MIGRATION, review_since
from upgrade.cluster.jobs import MigrationOutcome, log_tail
from upgrade.cluster.target import Target
from upgrade.cluster.vulndb import VulnDBOutcome
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, iso
from upgrade.rules.versions import Version

pytestmark = pytest.mark.post

RECENT_JOBS = 1000
SHOWN = 20


def _hops(hops: list[tuple[Version, Version]]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in hops) or "no hop"


@pytest.mark.check("POST-MIGRATION-JOBS")
def test_migration_jobs_done(
    migrations: list[MigrationOutcome],
    upgrade_hops: list[tuple[Version, Version]],
    evidence: CheckRecord,
) -> None:
    """Every migration job the catalogue lists for the hops crossed ended `done` (2.5 -> 2.6:
    `metadatastoremigration`; the job runner retries a failed one twice, after which the guide
    says to re-trigger it with POST /api/v0/jobs). The evidence shows every attempt, the log
    tails of failed ones and the manual re-trigger if one was made."""
    evidence.attach("hops", _hops(upgrade_hops))
    if not migrations:
        pytest.skip(f"no migration job for {_hops(upgrade_hops)}: the catalogue lists none")
    evidence.attach("migrations", [outcome.evidence() for outcome in migrations])
    for outcome in migrations:
        if outcome.note:
            evidence.note(outcome.note)
        if outcome.manual is not None:
            evidence.note(
                f"{outcome.action} was re-triggered by hand (job {outcome.manual.id}) after "
                f"{len(outcome.chain.failed_attempts) if outcome.chain else 0} failed attempt(s)"
            )
        elif outcome.chain and outcome.chain.failed_attempts and outcome.done:
            evidence.note(
                f"{outcome.action} succeeded after {len(outcome.chain.failed_attempts)} failed "
                "attempt(s) retried by the job runner"
            )
    problems = [f"{o.hop} {o.action}: {o.problem}" for o in migrations if o.problem]
    assert not problems, "; ".join(problems)


@pytest.mark.check("POST-GC-UNBLOCKED")
def test_garbage_collection_unblocked(
    migrations: list[MigrationOutcome], target: Target, evidence: CheckRecord
) -> None:
    """Once `metadatastoremigration` is done, garbage collection is no longer blocked: no
    migration job is waiting or running (GC is disabled while one runs) and the features
    report the metadata store migrated (`metadataStoreOptedIn`)."""
    relevant = [o for o in migrations if o.action == METADATA_MIGRATION]
    if not relevant:
        pytest.skip(f"no {METADATA_MIGRATION} for this hop: garbage collection was not blocked")
    if not all(o.done for o in relevant):
        pytest.fail(
            f"garbage collection stays disabled: {METADATA_MIGRATION} is not done "
            "(see POST-MIGRATION-JOBS)"
        )
    dtr = target.dtr()
    pending = [j for j in dtr.jobs(action=METADATA_MIGRATION, limit=50) if j.pending]
    features = dtr.features()
    status = dtr.cluster_status()
    evidence.attach("pending_migrations", [{"id": j.id, "status": j.status} for j in pending])
    evidence.attach(
        "features",
        {
            "metadataStoreOptedIn": features.metadata_store_opted_in,
            "onlineGCEnabled": features.online_gc_enabled,
        },
    )
    evidence.attach("gc_lock_holder", status.gc_lock_holder)
    if not features.online_gc_enabled:
        evidence.note("features.onlineGCEnabled is false: online garbage collection is not on")
    problems = []
    if pending:
        problems.append(
            f"{METADATA_MIGRATION} job(s) still {', '.join(j.status for j in pending)} "
            f"({', '.join(j.id for j in pending)})"
        )
    if not features.metadata_store_opted_in:
        problems.append("features.metadataStoreOptedIn is still false")
    assert not problems, "garbage collection is still blocked: " + "; ".join(problems)


@pytest.mark.check("POST-JOBS-NO-ERRORS")
def test_no_job_errored_since_upgrade(
    target: Target,
    settings: Settings,
    upgrade_began: datetime,
    migrations: list[MigrationOutcome],
    vuln_db: VulnDBOutcome | None,
    evidence: CheckRecord,
) -> None:
    """No job errored since the upgrade began, each judged by its final state: the latest
    attempt of its `retryFromID` chain, unless a later run of the same action and parameters
    ended `done` (a re-trigger). A job whose worker went away (`worker_dead`,
    `worker_shutdown`: the jobrunner containers are replaced one replica at a time) was cut, not
    failed, and is listed apart; `cancel_request` is still pending. The evidence lists every
    such job with the last lines of its log. Runs after the migration and vulnerability
    database follow-ups."""
    dtr = target.dtr()
    jobs = dtr.jobs(limit=RECENT_JOBS)
    review = review_since(jobs, upgrade_began, slack=settings.max_clock_skew)
    evidence.attach("since", iso(upgrade_began))
    evidence.attach(
        "actions_run_since",
        sorted({j.action for j in jobs if j.scheduled_at and j.scheduled_at >= upgrade_began}),
    )

    def described(job_list: tuple[Job, ...]) -> list[dict[str, object]]:
        return [
            {
                "id": job.id,
                "action": job.action,
                "status": job.status,
                "scheduled_at": iso(job.scheduled_at),
                "log_tail": log_tail(dtr, job, 3),
            }
            for job in job_list[:SHOWN]
        ]

    evidence.attach("errored", described(review.errored))
    evidence.attach("errored_then_recovered", described(review.recovered))
    evidence.attach("interrupted", described(review.interrupted))
    evidence.attach("still_pending", described(review.pending))
    if review.interrupted:
        evidence.note(
            f"{len(review.interrupted)} job(s) were cut when their worker went away (a jobrunner "
            "container replaced during the upgrade), not failed: "
            + ", ".join(f"{j.action} {j.id} ({j.status})" for j in review.interrupted[:5])
        )
    if review.pending:
        evidence.note(
            f"{len(review.pending)} job(s) retried after a failed or cut attempt are still "
            "running: " + ", ".join(f"{j.action} {j.id} ({j.status})" for j in review.pending[:5])
        )
    assert not review.errored, (
        f"{len(review.errored)} job(s) errored since the upgrade began and were not recovered: "
        + ", ".join(f"{j.action} {j.id} ({j.status})" for j in review.errored[:5])
        + "; read their logs (System > Job Logs) and re-run what they did"
    )
