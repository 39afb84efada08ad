"""Between two hops of a multi-hop upgrade: the next hop must not start while the last hop's
data migration still runs, and a migration the cluster already made needs no wait.

The 2.5 -> 2.6 `metadatastoremigration` is not run again for a metadata store migrated on 2.5
(`features.metadataStoreOptedIn`, `upgrade.cluster.jobs.metadata_store_migrated`;
fidelity-review.md 7): without that, the wait would last its whole bound for a job that never
comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from upgrade.cluster.job_rules import METADATA_MIGRATION
from upgrade.cluster.jobs import (
    DEFAULT_INTERVAL_S,
    FeaturesAPI,
    JobsAPI,
    find_chain,
    metadata_store_migrated,
    wait_for_chain,
)
from upgrade.errors import HarnessError
from upgrade.rules.catalog import Migration

__all__ = ["HopDTR", "settle_migrations"]


class HopDTR(JobsAPI, FeaturesAPI, Protocol):
    """The part of `DTRClient` the wait between hops uses."""


def settle_migrations(
    dtr: HopDTR,
    migrations: Sequence[Migration],
    hop: str,
    began: datetime | None,
    timeout_s: float,
    on_event: Callable[[str], None],
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait (each at most `timeout_s`) for the migration jobs of `hop` (`2.5.11 -> 2.6.4`) that
    started at or after `began`, telling `on_event` how each ended. Raises HarnessError when
    one ended without success: it must be resolved before the next hop."""
    for migration in migrations:
        if migration.job == METADATA_MIGRATION and find_chain(dtr, migration.job, began) is None:
            shown = metadata_store_migrated(dtr)
            if shown:
                on_event(f"{migration.job} after {hop}: {shown}")
                continue
        chain = wait_for_chain(
            dtr,
            migration.job,
            began,
            timeout_s,
            option="the between-hops wait",
            interval_s=interval_s,
            clock=clock,
            sleep=sleep,
        )
        if chain is not None and not chain.done:
            raise HarnessError(
                f"the {migration.job} job of {hop} ended {chain.latest.status}; resolve it "
                "before the next hop"
            )
        state = "no job appeared" if chain is None else "done"
        on_event(f"{migration.job} after {hop}: {state}")
