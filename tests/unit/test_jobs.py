"""Job waiting, retry chains, errored jobs and the migration follow-up, on a fake clock."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.support.servers import FakeClock
from tests.unit.fakejobs import T0, FakeDTR, make_job
from upgrade.cluster.job_rules import chains
from upgrade.cluster.jobs import (
    JobTimedOut,
    MigrationOutcome,
    curl_submit_job,
    find_chain,
    follow_migration,
    readable,
    wait_for_chain,
    wait_for_job,
)

ACTION = "metadatastoremigration"
REQUEST = curl_submit_job("https://dtr.example.com", ACTION)
MIGRATION_ERROR = '{"level":"error","msg":"failed to migrate blob links","time":"x"}'


@pytest.fixture
def dtr(clock: FakeClock) -> FakeDTR:
    """A scripted DTR on the fake clock."""
    return FakeDTR(clock)


def failing_chain(
    dtr: FakeDTR, attempts: int = 3, every: float = 5.0, link: str = "previous", gap: float = 0.0
) -> None:
    """The job runner's attempts of a failing migration: each errors after `every` seconds and
    is retried as a new job, until the retries are used up."""
    ids = [f"attempt-{n}" for n in range(1, attempts + 1)]
    for n, job_id in enumerate(ids):
        retry_from = None if n == 0 else (ids[n - 1] if link == "previous" else ids[0])
        job = make_job(
            job_id,
            ACTION,
            "running",
            retry_from=retry_from,
            at=n * every,
            retries_left=attempts - 1 - n,
        )
        dtr.at(n * every + (gap if n else 0.0), functools.partial(dtr.add, job))
        dtr.at(
            (n + 1) * every,
            functools.partial(dtr.set_status, job_id, "errored", MIGRATION_ERROR),
        )


# -- chains -------------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["previous", "first"])
def test_chains_follow_retry_links_to_the_previous_or_the_first_attempt(link: str) -> None:
    first = make_job("a", status="errored", at=0, retries_left=2)
    second = make_job("b", status="errored", retry_from="a", at=5, retries_left=1)
    third = make_job("c", status="done", retry_from="b" if link == "previous" else "a", at=10)
    unrelated = make_job("z", status="done", at=2)
    found = chains([third, unrelated, first, second])
    assert [[j.id for j in c.attempts] for c in found] == [["z"], ["a", "b", "c"]]
    assert found[-1].done
    assert len(found[-1].failed_attempts) == 2


def test_a_chain_is_exhausted_only_when_no_retry_is_left() -> None:
    retrying = chains([make_job("a", status="errored", retries_left=1)])[0]
    assert not retrying.finished
    given_up = chains([make_job("a", status="errored", retries_left=0)])[0]
    assert given_up.exhausted
    assert given_up.finished


def test_empty_retry_link_and_unknown_link_start_their_own_chain() -> None:
    lone = make_job("a", retry_from="")
    orphan = make_job("b", retry_from="compacted-away", at=3)
    assert [len(c.attempts) for c in chains([lone, orphan])] == [1, 1]


def test_find_chain_ignores_jobs_before_the_upgrade(dtr: FakeDTR) -> None:
    dtr.add(make_job("old", at=-3600))
    assert find_chain(dtr, ACTION, T0) is None
    assert find_chain(dtr, ACTION, T0, slack=timedelta(hours=2)) is not None


# -- waiting ------------------------------------------------------------------------------------


def test_wait_for_job_returns_once_it_finished(dtr: FakeDTR, clock: FakeClock) -> None:
    dtr.add(make_job("j", status="running"))
    dtr.at(3.2, lambda: dtr.set_status("j", "done"))
    job = wait_for_job(dtr, "j", 60, clock=clock, sleep=clock.sleep)
    assert job.done
    assert 3.2 <= clock.now - dtr.start < 4.0


def test_wait_for_job_times_out_naming_the_option(dtr: FakeDTR, clock: FakeClock) -> None:
    dtr.add(make_job("j", status="running"))
    with pytest.raises(JobTimedOut, match=r"within 10 s; last seen running .*--migration-timeout"):
        wait_for_job(dtr, "j", 10, option="--migration-timeout", clock=clock, sleep=clock.sleep)
    assert clock.now - dtr.start == pytest.approx(10)


@pytest.mark.parametrize("link", ["previous", "first"])
def test_wait_for_chain_waits_through_every_retry(
    dtr: FakeDTR, clock: FakeClock, link: str
) -> None:
    failing_chain(dtr, link=link)
    chain = wait_for_chain(dtr, ACTION, T0, 60, clock=clock, sleep=clock.sleep)
    assert chain is not None
    assert chain.exhausted
    assert [j.id for j in chain.failed_attempts] == ["attempt-1", "attempt-2", "attempt-3"]
    assert clock.now - dtr.start == pytest.approx(15, abs=0.6)


def test_an_errored_attempt_with_retries_left_is_not_the_end(
    dtr: FakeDTR, clock: FakeClock
) -> None:
    # The job runner may schedule the retry a moment after the failed attempt ended.
    failing_chain(dtr, gap=2.0)
    chain = wait_for_chain(dtr, ACTION, T0, 60, clock=clock, sleep=clock.sleep)
    assert chain is not None
    assert len(chain.failed_attempts) == 3


def test_a_retry_scheduled_although_no_retry_was_reported_left_is_awaited(
    dtr: FakeDTR, clock: FakeClock
) -> None:
    failing_chain(dtr, gap=2.0)
    dtr.retries_reported = False
    outcome = follow(dtr, clock)
    assert outcome.chain is not None
    assert len(outcome.chain.failed_attempts) == 3


def test_the_retry_grace_ends_when_no_further_attempt_comes(dtr: FakeDTR, clock: FakeClock) -> None:
    failing_chain(dtr, attempts=1)
    dtr.retries_reported = False
    outcome = follow(dtr, clock)
    assert "failed 1 time(s)" in str(outcome.problem)
    assert clock.now - dtr.start == pytest.approx(5 + 30, abs=1)


def test_wait_for_chain_without_any_job_gives_none_at_the_deadline(
    dtr: FakeDTR, clock: FakeClock
) -> None:
    assert wait_for_chain(dtr, ACTION, T0, 7, clock=clock, sleep=clock.sleep) is None
    assert clock.now - dtr.start == pytest.approx(7)


def test_wait_for_chain_times_out_while_a_retry_runs(dtr: FakeDTR, clock: FakeClock) -> None:
    failing_chain(dtr, every=50)
    with pytest.raises(JobTimedOut, match="the metadatastoremigration job did not finish"):
        wait_for_chain(dtr, ACTION, T0, 60, clock=clock, sleep=clock.sleep)


# -- the migration follow-up --------------------------------------------------------------------


def follow(
    dtr: FakeDTR,
    clock: FakeClock,
    *,
    retrigger: bool = False,
    timeout_s: float = 120,
    done_without_job: Callable[[], str | None] | None = None,
) -> MigrationOutcome:
    return follow_migration(
        dtr,
        ACTION,
        "2.5 -> 2.6",
        T0,
        timeout_s,
        request=REQUEST,
        retrigger=retrigger,
        expected_attempts=3,
        done_without_job=done_without_job,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_migration_done_at_the_first_attempt(dtr: FakeDTR, clock: FakeClock) -> None:
    dtr.add(make_job("m", status="running", retries_left=2))
    dtr.at(2, lambda: dtr.set_status("m", "done"))
    outcome = follow(dtr, clock)
    assert outcome.done
    assert outcome.evidence()["attempts"][0]["status"] == "done"
    assert dtr.submitted == []


def test_three_failures_without_retrigger_fail_with_the_exact_request(
    dtr: FakeDTR, clock: FakeClock
) -> None:
    failing_chain(dtr)
    outcome = follow(dtr, clock)
    assert not outcome.done
    problem = outcome.problem or ""
    assert "metadatastoremigration failed 3 time(s)" in problem
    assert REQUEST in problem
    assert "--retrigger-migrations" in problem
    assert dtr.submitted == []
    evidence = outcome.evidence()
    assert evidence["failed_attempts"] == 3
    assert evidence["log_tails"]["attempt-3"] == ["error: failed to migrate blob links"]


def test_retrigger_after_three_failures_submits_once_and_waits(
    dtr: FakeDTR, clock: FakeClock
) -> None:
    failing_chain(dtr)
    dtr.on_submit = lambda job: dtr.at(
        clock.now - dtr.start + 4, lambda: dtr.set_status(job.id, "done")
    )
    outcome = follow(dtr, clock, retrigger=True)
    assert outcome.done
    assert dtr.submitted == ["manual-1"]
    evidence = outcome.evidence()
    assert evidence["failed_attempts"] == 3
    assert evidence["manual_attempt"]["status"] == "done"


def test_retrigger_that_fails_too_is_a_problem(dtr: FakeDTR, clock: FakeClock) -> None:
    failing_chain(dtr)
    dtr.on_submit = lambda job: dtr.at(
        clock.now - dtr.start + 1, lambda: dtr.set_status(job.id, "errored", MIGRATION_ERROR)
    )
    outcome = follow(dtr, clock, retrigger=True)
    assert "the re-triggered metadatastoremigration (job manual-1) ended errored" in (
        str(outcome.problem)
    )


def test_no_migration_job_at_all_fails_or_is_triggered(dtr: FakeDTR, clock: FakeClock) -> None:
    outcome = follow(dtr, clock, timeout_s=5)
    assert "no metadatastoremigration job ran since the upgrade began" in str(outcome.problem)
    dtr.on_submit = lambda job: dtr.set_status(job.id, "done")
    assert follow(dtr, clock, retrigger=True, timeout_s=5).done


def test_the_whole_follow_up_is_bounded_by_its_timeout(dtr: FakeDTR, clock: FakeClock) -> None:
    failing_chain(dtr)
    began = clock.now
    outcome = follow(dtr, clock, retrigger=True, timeout_s=40)
    assert "job manual-1" in str(outcome.problem)
    assert clock.now - began <= 40.0 + 1e-9


def test_no_job_on_record_but_the_flag_shows_it_done(dtr: FakeDTR, clock: FakeClock) -> None:
    outcome = follow(dtr, clock, done_without_job=lambda: "features.metadataStoreOptedIn is true")
    assert outcome.done
    assert "no metadatastoremigration job on record" in outcome.note
    assert clock.sleeps == []
    not_shown = follow(dtr, clock, timeout_s=3, done_without_job=lambda: None)
    assert not not_shown.done


# -- errored jobs, requests, logs ---------------------------------------------------------------


def test_the_request_is_the_guides_curl_with_variables_only() -> None:
    assert REQUEST == (
        "curl -u \"$DTR_USERNAME:$DTR_TOKEN\" -X POST -H 'Content-Type: application/json' "
        'https://dtr.example.com/api/v0/jobs -d \'{"action":"metadatastoremigration"}\''
    )
    words = shlex.split(curl_submit_job("https://dtr:8443/", ACTION, "DTR_PASSWORD", ca_file=None))
    assert words[2] == "$DTR_USERNAME:$DTR_PASSWORD"
    assert words[-3] == "https://dtr:8443/api/v0/jobs"


def test_readable_log_lines() -> None:
    assert readable(MIGRATION_ERROR) == "error: failed to migrate blob links"
    assert readable("plain text") == "plain text"
    assert readable('["json", "but not a record"]') == '["json", "but not a record"]'
