"""The session's verdict: one word and one sentence that say whether the change may go ahead.

HEALTHY / UNHEALTHY (health check only), GO / NO-GO (plan), UPGRADED, UPGRADE-FAILED,
VERIFY-FAILED and INTERRUPTED. A session that could not show its case is never GO: missing
evidence counts against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["health", "plan", "upgrade", "verify"]
UpgradeState = Literal["not-run", "passed", "failed", "interrupted"]

BLOCKING = frozenset({"failed", "error"})


@dataclass(frozen=True)
class Outcome:
    """What one check item ended as, as the verdict needs it."""

    check_id: str
    phase: str
    outcome: str
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """The session's verdict word and the sentence that explains it."""

    word: str
    reason: str

    @property
    def good(self) -> bool:
        """Whether the verdict lets the change go ahead or confirms it succeeded."""
        return self.word in ("HEALTHY", "GO", "UPGRADED")


def _names(outcomes: Sequence[Outcome]) -> str:
    ids = sorted({o.check_id for o in outcomes})
    shown = ", ".join(ids[:6])
    names = shown + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
    causes = {o.message for o in outcomes}
    if len(outcomes) > 1 and len(causes) == 1 and causes != {""}:
        # Many checks failing for one reason (an unreachable target, rejected credentials):
        # the reason is what the operator must fix.
        names += f" - all because {next(iter(causes))}"
    return names


def blocking(outcomes: Sequence[Outcome], phase: str) -> list[Outcome]:
    """The outcomes of `phase` that block: failed or errored, not waived."""
    return [o for o in outcomes if o.phase == phase and o.outcome in BLOCKING]


def decide(
    mode: Mode,
    outcomes: Sequence[Outcome],
    upgrade: UpgradeState = "not-run",
    *,
    interrupted: bool = False,
    upgrade_message: str = "",
) -> Verdict:
    """Decide the verdict of a session from its check outcomes and the upgrade's state."""
    if interrupted or upgrade == "interrupted":
        detail = upgrade_message or "the session was stopped before it finished"
        return Verdict(
            "INTERRUPTED",
            f"{detail}; re-run the same command: the DTR upgrade resumes where it stopped.",
        )
    pre_failed = blocking(outcomes, "preflight")
    pre_ran = [o for o in outcomes if o.phase == "preflight" and o.outcome != "skipped"]
    post_failed = blocking(outcomes, "post") + blocking(outcomes, "upgrade")
    post_ran = [o for o in outcomes if o.phase == "post" and o.outcome != "skipped"]

    if mode == "health":
        if pre_failed:
            return Verdict("UNHEALTHY", f"{len(pre_failed)} check(s) failed: {_names(pre_failed)}.")
        if not pre_ran:
            return Verdict("UNHEALTHY", "no health check ran, so health was not shown.")
        return Verdict("HEALTHY", f"all {len(pre_ran)} health checks that apply passed.")

    if mode in ("plan", "upgrade"):
        if pre_failed:
            return Verdict(
                "NO-GO",
                f"preflight failed ({_names(pre_failed)}); nothing was changed.",
            )
        if not pre_ran:
            return Verdict("NO-GO", "no preflight check ran, so readiness was not shown.")
        if mode == "plan":
            return Verdict(
                "GO",
                f"all {len(pre_ran)} preflight checks that apply passed; the upgrade may start.",
            )
        if upgrade == "failed":
            detail = f": {upgrade_message}" if upgrade_message else ""
            return Verdict(
                "UPGRADE-FAILED",
                f"the upgrade did not complete{detail}; re-run to resume once the cause is fixed.",
            )
        if upgrade == "not-run":
            return Verdict("UPGRADE-FAILED", "the upgrade did not run although it was requested.")

    if post_failed:
        return Verdict(
            "VERIFY-FAILED",
            f"post-upgrade verification failed ({_names(post_failed)}).",
        )
    if not post_ran:
        return Verdict("VERIFY-FAILED", "no post-upgrade check ran, so the result was not shown.")
    return Verdict("UPGRADED", f"all {len(post_ran)} post-upgrade checks passed.")
