"""Job states in a rolling upgrade, judged by their final state: `cancel_request` is waited
through, a `worker_dead` attempt is claimed by another replica instead of ending a chain, and
POST-JOBS-NO-ERRORS' review tells errored jobs from jobs cut when their worker went away
(fidelity-review.md 8; job-queue.md; the Swagger's tmpresponses.Job.status)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.support.servers import FakeClock
from tests.unit.fakejobs import T0, FakeDTR, make_job
from upgrade.clients.dtr_records import Job
from upgrade.cluster.job_rules import chains, review_since
from upgrade.cluster.jobs import curl_submit_job, follow_migration, wait_for_job

ACTION = "metadatastoremigration"


def with_parameters(job: Job, **parameters: str) -> Job:
    return replace(job, raw={**job.raw, "parameters": parameters})


def ids(jobs: tuple[Job, ...]) -> list[str]:
    return [job.id for job in jobs]


# -- waiting ------------------------------------------------------------------------------------


def test_a_cancel_request_is_waited_through_to_its_end() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    dtr.add(make_job("j", "scan_check_single", "cancel_request"))
    dtr.at(2, lambda: dtr.set_status("j", "canceled"))
    job = wait_for_job(dtr, "j", 30, clock=clock, sleep=clock.sleep)
    assert job.status == "canceled"
    assert clock.now - dtr.start >= 2


def test_a_worker_dead_attempt_is_claimed_by_another_replica_not_retriggered() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    # The replica running the migration is replaced: its job enters worker_dead with no retry
    # left on record, and another replica claims the same job and finishes it.
    dtr.add(make_job("m", ACTION, "worker_dead", retries_left=0))
    dtr.at(4, lambda: dtr.set_status("m", "running"))
    dtr.at(8, lambda: dtr.set_status("m", "done"))
    outcome = follow_migration(
        dtr,
        ACTION,
        "2.5 -> 2.6",
        T0,
        120,
        request=curl_submit_job("https://dtr", ACTION),
        retrigger=True,
        expected_attempts=3,
        clock=clock,
        sleep=clock.sleep,
    )
    assert outcome.done, outcome.problem
    assert dtr.submitted == []
    assert chains([dtr.job("m")])[0].done


def test_an_interrupted_chain_is_neither_done_nor_exhausted() -> None:
    (chain,) = chains([make_job("a", status="worker_shutdown", retries_left=0)])
    assert not chain.exhausted
    assert not chain.finished
    assert chain.failed_attempts == ()


# -- the review of jobs since the upgrade -------------------------------------------------------


def test_one_off_jobs_cut_by_the_container_replacement_are_not_errors() -> None:
    jobs = [
        make_job("scan", "scan_check_single", "worker_shutdown", at=10),
        make_job("hook", "webhook", "worker_dead", at=12),
        make_job("ok", "tag_pruning", "done", at=14),
    ]
    review = review_since(jobs, T0)
    assert review.errored == ()
    assert ids(review.interrupted) == ["scan", "hook"]


def test_a_real_error_still_counts() -> None:
    jobs = [
        make_job("scan", "scan_check_single", "worker_shutdown", at=10),
        make_job("vuln", "update_vuln_db", "errored", at=20),
    ]
    review = review_since(jobs, T0)
    assert ids(review.errored) == ["vuln"]
    assert ids(review.interrupted) == ["scan"]


def test_a_job_is_judged_by_the_latest_attempt_of_its_retry_chain() -> None:
    jobs = [
        make_job("m1", "poll_mirror", "worker_shutdown", at=10, retries_left=2),
        make_job("m2", "poll_mirror", "errored", retry_from="m1", at=20, retries_left=1),
        make_job("m3", "poll_mirror", "done", retry_from="m1", at=30),
        make_job("g1", "tag_pruning", "done", at=11),
        make_job("g2", "tag_pruning", "errored", retry_from="g1", at=21),
    ]
    review = review_since(jobs, T0)
    assert ids(review.recovered) == ["m1", "m2"]
    # A chain that ended errored is an error even though an earlier attempt was done.
    assert ids(review.errored) == ["g2"]


def test_another_run_recovers_a_job_only_with_the_same_parameters() -> None:
    failed = with_parameters(make_job("w1", "webhook", "errored", at=10), endpoint="a")
    other = with_parameters(make_job("w2", "webhook", "done", at=20), endpoint="b")
    assert ids(review_since([failed, other], T0).errored) == ["w1"]
    again = with_parameters(make_job("w3", "webhook", "done", at=30), endpoint="a")
    review = review_since([failed, other, again], T0)
    assert review.errored == ()
    assert ids(review.recovered) == ["w1"]


def test_a_manual_retrigger_recovers_the_migration() -> None:
    jobs = [
        make_job("a1", ACTION, "errored", at=10),
        make_job("a2", ACTION, "errored", retry_from="a1", at=20),
        make_job("manual-1", ACTION, "done", at=40),
    ]
    review = review_since(jobs, T0)
    assert review.errored == ()
    assert ids(review.recovered) == ["a1", "a2"]


def test_a_retry_still_running_is_pending_and_a_cancel_request_is_no_error() -> None:
    jobs = [
        make_job("r1", "poll_mirror", "worker_shutdown", at=10, retries_left=1),
        make_job("r2", "poll_mirror", "running", retry_from="r1", at=20),
        make_job("c1", "scan_check_single", "cancel_request", at=15),
    ]
    review = review_since(jobs, T0)
    assert review.errored == ()
    assert ids(review.pending) == ["r2"]


def test_jobs_before_the_upgrade_are_not_judged_but_link_retries() -> None:
    old = make_job("old", "gc", "errored", at=-600, retries_left=1)
    retry = make_job("new", "gc", "done", retry_from="old", at=30)
    review = review_since([old, retry], T0)
    assert review.errored == ()
    assert ids(review.recovered) == ["old"]
    assert review_since([old], T0).errored == ()
    assert ids(review_since([old], T0, slack=timedelta(hours=1)).errored) == ["old"]
