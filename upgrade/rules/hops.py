"""UCP/MKE compatibility for every hop of a multi-hop plan.

The guide's precondition is that "the version of UCP you are using is supported by the version
of DTR you are trying to upgrade to" (seed, "Upgrade DTR"). A multi-hop plan lands DTR on
every stop in turn, so the precondition holds for each hop's target, not only for the last
(fidelity-review.md 11): 2.4.12 -> 2.5.11 -> 2.6.4 needs UCP 3.0 for the first hop and UCP 3.1
for the second (the catalogue's pairings, dtr-facts.md 5.1), so UCP must be upgraded between the
hops, and the harness never upgrades UCP.

Decisions, one per answer of `Catalog.ucp_compatibility` for a hop's target:
- incompatible (UCP older than the pairing): the hop needs a UCP upgrade first; it blocks.
- unknown on a stop before the last (UCP newer than the stop's pairing, or no pairing): the
  sources are silent on whether that DTR runs on this UCP (the official matrix was not found,
  dtr-facts.md 9), so the safe reading is taken: the harness does not park DTR there; it blocks,
  and a catalogue file (`--catalog`) whose `[[ucp]]` pairing covers the UCP lifts it.
- unknown on the last hop: judged as PRE-UCP-COMPAT judges a single hop (a note, not a block).
"""

from __future__ import annotations

from dataclasses import dataclass

from upgrade.rules.catalog import Catalog, Compatibility
from upgrade.rules.planner import Plan
from upgrade.rules.versions import Version

__all__ = ["HopUCP", "blocking_hops", "hop_ucp"]


@dataclass(frozen=True, slots=True)
class HopUCP:
    """One hop of a plan, the UCP/MKE it needs and how the running UCP fits it."""

    number: int
    start: Version
    stop: Version
    needs: str
    compatibility: Compatibility
    last: bool

    @property
    def blocks(self) -> bool:
        """True when this hop cannot run on the running UCP in one session (see the module)."""
        if self.compatibility.compatible is False:
            return True
        return self.compatibility.compatible is None and not self.last

    def describe(self, ucp: Version) -> str:
        """One clause for messages: the hop, what it needs, what runs and what to do."""
        hop = f"hop {self.number} ({self.start} -> {self.stop}) needs {self.needs}"
        if self.compatibility.compatible is False:
            after = (
                f" (after the hops up to {self.start}: a session with --to-version={self.start})"
                if self.number > 1
                else ""
            )
            return f"{hop} and UCP runs {ucp}: upgrade it to {self.needs} first{after}"
        if self.compatibility.compatible is None:
            return (
                f"{hop} and UCP runs {ucp}, which the catalogue does not pair with DTR "
                f"{self.stop.major}.{self.stop.minor}, so whether DTR {self.stop} runs on it is "
                "not known: check the compatibility matrix, and if it pairs them give a "
                "catalogue file (--catalog FILE) with that [[ucp]] pairing"
            )
        return f"{hop}: UCP {ucp} fits"


def hop_ucp(plan: Plan, ucp: Version, catalog: Catalog) -> tuple[HopUCP, ...]:
    """Every hop of `plan` with the UCP/MKE its target needs and the running UCP's fit."""
    hops = plan.hops
    return tuple(
        HopUCP(
            number=number,
            start=start,
            stop=stop,
            needs=catalog.ucp_requirement(stop) or "a UCP/MKE the catalogue does not name",
            compatibility=catalog.ucp_compatibility(stop, ucp),
            last=number == len(hops),
        )
        for number, (start, stop) in enumerate(hops, start=1)
    )


def blocking_hops(hops: tuple[HopUCP, ...]) -> tuple[HopUCP, ...]:
    """The hops that cannot run on the running UCP within one session."""
    return tuple(hop for hop in hops if hop.blocks)
