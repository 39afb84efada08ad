"""The oldest Docker engine each DTR line ran on: the default of --min-engine-version.

No source states a minimum engine for DTR itself (dtr-facts.md 5.1 and 9: DTR runs on UCP
nodes, and UCP sets the engine minimum). What the sources do give is the engine of each
Docker Enterprise bundle and Mirantis pairing (dtr-facts.md 5.1), so the default minimum is the
engine of the bundle the *running* DTR line shipped in: the nodes run that engine today, and a
rolling cluster upgrade may replace them with the next bundle's engine while DTR is upgraded
(the 2.6 guide's 18.09 best practice, dtr-facts.md 6, S8; fidelity-review.md 10: a fixed 18.09
would refuse the 2.4 -> 2.5 and 17.06-era 2.5 -> 2.6 upgrades). An explicit
--min-engine-version always wins. A line newer than the table takes its newest entry; a line
older than the table has no known minimum and takes the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from upgrade.rules.versions import Version, format_line

__all__ = ["ENGINE_MINIMUMS", "EngineMinimum", "engine_minimum", "engine_minimum_note"]


@dataclass(frozen=True, slots=True)
class EngineMinimum:
    """The oldest engine for DTR lines from `since` on, with the bundle and source it rests on."""

    since: tuple[int, int]
    engine: str
    bundle: str
    source: str
    tag: str

    def describe(self) -> str:
        """One phrase for messages, e.g. `17.06 (Docker EE 2.0 bundle with DTR 2.5, ...)`."""
        return f"{self.engine} ({self.bundle}; {self.tag}, {self.source})"


ENGINE_MINIMUMS: Final[tuple[EngineMinimum, ...]] = (
    EngineMinimum(
        (2, 3),
        "17.06.0",
        "Docker EE 17.06 bundle: UCP 2.2, DTR 2.3/2.4, engine 17.06-ee",
        "dtr-facts.md 5.1",
        "inferred",
    ),
    EngineMinimum(
        (2, 5),
        "17.06.0",
        "Docker EE 2.0 bundle: UCP 3.0, DTR 2.5, engine 17.06 (EE 2.0 version pack)",
        "dtr-facts.md 5.1",
        "inferred",
    ),
    EngineMinimum(
        (2, 6),
        "18.09.0",
        "Docker Enterprise 2.1 bundle: UCP 3.1, DTR 2.6, engine 18.09",
        "dtr-facts.md 5.1, S31",
        "confirmed",
    ),
    EngineMinimum(
        (2, 7),
        "19.03.0",
        "Docker Enterprise 3.0 bundle: UCP 3.2, DTR 2.7, engine 19.03",
        "dtr-facts.md 5.1, S25, S30",
        "confirmed",
    ),
    EngineMinimum(
        (2, 8),
        "19.03.0",
        "Docker Enterprise 3.1: MKE 3.3, MSR 2.8, engine 19.03 (launchpad 1.2.0 pairs MCR 20.10)",
        "dtr-facts.md 5.1, S29",
        "confirmed",
    ),
    EngineMinimum(
        (2, 9),
        "20.10.0",
        "Mirantis: MKE 3.4-3.8, MSR 2.9, MCR 20.10 and later",
        "dtr-facts.md 5.1, S21",
        "confirmed",
    ),
    EngineMinimum(
        (2, 10),
        "23.0.0",
        "Mirantis: MKE 3.6-3.9, MSR 2.10, MCR 23.x/25.x/29.x (MSR 2.10 compatibility matrix)",
        "dtr-facts.md 5.1, S26",
        "confirmed",
    ),
)
"""Oldest first; each entry covers its line and the lines after it up to the next entry."""


def engine_minimum(dtr: Version) -> EngineMinimum:
    """The engine minimum for nodes running DTR `dtr` (its minor line decides)."""
    covering = [entry for entry in ENGINE_MINIMUMS if entry.since <= dtr.minor_line]
    return covering[-1] if covering else ENGINE_MINIMUMS[0]


def engine_minimum_note(dtr: Version) -> str:
    """Where the default minimum for DTR `dtr` comes from, for a check's evidence."""
    entry = engine_minimum(dtr)
    return (
        f"default minimum for DTR {format_line(dtr.minor_line)}: engine {entry.describe()}; "
        "--min-engine-version overrides it"
    )
