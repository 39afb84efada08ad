"""The wait between two hops of a multi-hop upgrade: for the hop's migration jobs, and not for a
metadatastoremigration a store migrated on 2.5 will never get (fidelity-review.md 7)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.servers import FakeClock
from tests.unit.fakejobs import T0, FakeDTR, make_job
from upgrade.errors import HarnessError
from upgrade.procedure.hop_migrations import settle_migrations
from upgrade.rules.catalog import Migration

MIGRATION = Migration("2.5", "2.6", "metadatastoremigration", "enables online GC", attempts=3)
HOP = "2.5.11 -> 2.6.4"


def settle(dtr: FakeDTR, clock: FakeClock, timeout_s: float = 600) -> list[str]:
    events: list[str] = []
    settle_migrations(
        dtr, [MIGRATION], HOP, T0, timeout_s, events.append, clock=clock, sleep=clock.sleep
    )
    return events


def test_a_store_migrated_on_2_5_is_not_waited_for() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    dtr.metadata_store_opted_in = True
    (event,) = settle(dtr, clock)
    assert event.startswith(f"metadatastoremigration after {HOP}: features.metadataStoreOptedIn")
    assert clock.now - dtr.start < 1


def test_without_the_flag_the_wait_lasts_its_bound() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    assert settle(dtr, clock, timeout_s=20) == [
        f"metadatastoremigration after {HOP}: no job appeared"
    ]
    assert clock.now - dtr.start == pytest.approx(20)


def test_a_job_that_runs_is_followed_even_with_the_flag() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    dtr.metadata_store_opted_in = True
    dtr.add(make_job("m", status="running", at=5, retries_left=2))
    dtr.at(3, lambda: dtr.set_status("m", "done"))
    assert settle(dtr, clock) == [f"metadatastoremigration after {HOP}: done"]


def test_a_failed_migration_stops_the_next_hop() -> None:
    clock = FakeClock()
    dtr = FakeDTR(clock)
    dtr.add(make_job("m", status="errored", at=5, retries_left=0))
    with pytest.raises(HarnessError, match="ended errored; resolve it before the next hop"):
        settle(dtr, clock)
    assert clock.now - dtr.start < timedelta(minutes=1).total_seconds()
