"""The session's verdict: one word and one sentence that say whether the change may go ahead.

HEALTHY / UNHEALTHY (health check only), GO / NO-GO (plan), UPGRADED, UPGRADE-FAILED,
VERIFY-FAILED, INTERRUPTED and INCOMPLETE. A verdict is computed only from checks that ran: a
session in which a check of a phase it judges was deselected, never started or failed to
collect is never GO, HEALTHY or UPGRADED but INCOMPLETE, naming what is missing. Missing
evidence counts against the change, never for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["health", "plan", "upgrade", "verify"]
UpgradeState = Literal["not-run", "passed", "failed", "interrupted"]

BLOCKING = frozenset({"failed", "error"})
# Outcomes of a check that did not run to its end: the verdict cannot rest on it.
NOT_RUN = frozenset({"not-run", "deselected", "not-collected", "interrupted"})
# What an operator reads for each way a check can fail to run.
NOT_RUN_LABELS = {
    "deselected": "deselected by -k/-m/--deselect",
    "not-collected": "left out of collection (a path argument, --ignore, -o)",
    "not-run": "never started",
    "interrupted": "interrupted while running",
}
# The phases each mode judges: a check of these phases that did not run makes it incomplete.
JUDGED: dict[str, tuple[str, ...]] = {
    "health": ("preflight",),
    "plan": ("preflight",),
    "upgrade": ("preflight", "upgrade", "post"),
    "verify": ("post",),
}
GOOD = frozenset({"HEALTHY", "GO", "UPGRADED"})


@dataclass(frozen=True)
class Outcome:
    """What one check item ended as, as the verdict needs it; `warnings` are the notes it
    recorded (findings that do not fail it but that the operator must read)."""

    check_id: str
    phase: str
    outcome: str
    message: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stop:
    """How an interrupted session was stopped, for the advice its verdict gives.

    `phase` is the phase that was running (None before the first check), `cause` what stopped
    it (Ctrl-C, SIGTERM, SIGHUP), `changed` whether the upgrade procedure had started, and
    `verify_command` the command that verifies the upgrade when it completed before the stop.
    """

    cause: str = "Ctrl-C"
    phase: str | None = None
    changed: bool = False
    verify_command: str = ""


@dataclass(frozen=True)
class Verdict:
    """The session's verdict word and the sentence that explains it."""

    word: str
    reason: str

    @property
    def good(self) -> bool:
        """Whether the verdict lets the change go ahead or confirms it succeeded."""
        return self.word in GOOD


def ids_text(outcomes: Sequence[Outcome], limit: int = 6) -> str:
    """The distinct check IDs, sorted, the first `limit` named and the rest counted."""
    ids = sorted({o.check_id for o in outcomes})
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def counted_ids_text(outcomes: Sequence[Outcome], limit: int = 6) -> str:
    """`POST-CANARY, POST-REPLICA-CONTAINERS x3`: like `ids_text`, with how many items of a
    check (one per replica or node) there were when more than one, so the count before the
    parentheses adds up."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.check_id] = counts.get(outcome.check_id, 0) + 1
    ids = sorted(counts)
    shown = ", ".join(f"{i} x{counts[i]}" if counts[i] > 1 else i for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _names(outcomes: Sequence[Outcome]) -> str:
    names = ids_text(outcomes)
    causes = {o.message for o in outcomes}
    if len(outcomes) > 1 and len(causes) == 1 and causes != {""}:
        # Many checks failing for one reason (an unreachable target, rejected credentials):
        # the reason is what the operator must fix.
        names += f" - all because {next(iter(causes))}"
    return names


def blocking(outcomes: Sequence[Outcome], phase: str) -> list[Outcome]:
    """The outcomes of `phase` that block: failed or errored, not waived."""
    return [o for o in outcomes if o.phase == phase and o.outcome in BLOCKING]


def missing(outcomes: Sequence[Outcome], mode: Mode) -> list[Outcome]:
    """The checks of the phases `mode` judges that did not run to their end."""
    return [o for o in outcomes if o.phase in JUDGED[mode] and o.outcome in NOT_RUN]


def describe_missing(absent: Sequence[Outcome], collection_errors: Sequence[str] = ()) -> str:
    """`3 checks did not run (deselected by -k/-m/--deselect: PRE-A, PRE-B; never started:
    POST-C)`, and the files that failed to collect."""
    parts = []
    for kind, label in NOT_RUN_LABELS.items():
        group = [o for o in absent if o.outcome == kind]
        if group:
            parts.append(f"{label}: {counted_ids_text(group)}")
    texts = []
    if collection_errors:
        files = ", ".join(collection_errors[:3]) + (
            f" and {len(collection_errors) - 3} more" if len(collection_errors) > 3 else ""
        )
        texts.append(f"checks failed to collect in {files}")
    if absent:
        # items, as every count of the verdict (a per-replica check is one per replica)
        count = len(absent)
        texts.append(f"{count} check{'s' if count != 1 else ''} did not run ({'; '.join(parts)})")
    return "; ".join(texts)


def warnings_text(outcomes: Sequence[Outcome]) -> str:
    """`1 warning (PRE-MANIFEST-V1)`: how many warnings the outcomes recorded and whose, or
    an empty text when there are none."""
    warned = [o for o in outcomes if o.warnings]
    count = sum(len(o.warnings) for o in warned)
    if not count:
        return ""
    return f"{count} warning{'s' if count != 1 else ''} ({ids_text(warned)})"


def _tally(
    ran: Sequence[Outcome],
    noun: str,
    skipped: Sequence[Outcome] = (),
    earlier: Sequence[Outcome] = (),
) -> str:
    """`21 preflight checks passed and 1 was waived (PRE-BACKUP)`, `, 2 skipped (PRE-WINDOW,
    PRE-COMPONENT-IMAGES)` when some proved nothing (not counted as passed, and no "all"),
    `, with 1 warning (PRE-MANIFEST-V1)` when a check that ran recorded one. `earlier` are the
    checks of the session's earlier phase (preflight, for UPGRADED): their waivers are named
    and their warnings counted too, since the verdict is the session's last word."""
    passed = [o for o in ran if o.outcome == "passed"]
    waived = [o for o in ran if o.outcome == "waived"]
    text = f"{len(passed)} {noun} check{'s' if len(passed) != 1 else ''} passed"
    if waived:
        were = "was" if len(waived) == 1 else "were"
        text += f" and {len(waived)} {were} waived ({ids_text(waived)})"
    elif len(passed) > 1 and len(passed) == len(ran) and not skipped:
        text = f"all {text}"
    if skipped:
        text += f", {len(skipped)} skipped ({counted_ids_text(skipped)})"
    earlier_waived = [o for o in earlier if o.outcome == "waived"]
    if earlier_waived:
        were = "was" if len(earlier_waived) == 1 else "were"
        phase = earlier_waived[0].phase
        text += f", and {len(earlier_waived)} {phase} check {were} waived"
        text += f" ({ids_text(earlier_waived)})"
    warned = warnings_text([*earlier, *ran])
    return f"{text}, with {warned}" if warned else text


def _interrupted(mode: Mode, upgrade: UpgradeState, stop: Stop, upgrade_message: str) -> Verdict:
    where = f" during the {stop.phase} phase" if stop.phase else " before any check ran"
    cause = f"the session was stopped by {stop.cause}{where}"
    if stop.changed and upgrade not in ("passed", "failed"):
        detail = f"{cause} ({upgrade_message})" if upgrade_message else cause
        advice = "re-run the same command: the DTR upgrade resumes where it stopped"
    elif upgrade == "passed":
        detail = f"{cause}, after the upgrade completed"
        advice = "verify it with " + (
            stop.verify_command or "--phase=post and the --baseline of this bundle"
        )
    elif upgrade == "failed":
        detail = f"{cause}, after the upgrade failed ({upgrade_message})"
        advice = "re-run to resume once the cause is fixed"
    elif mode == "verify":
        detail = cause
        advice = "nothing was changed; re-run the same command to verify"
    else:
        detail = cause
        advice = "nothing was changed; re-run the same command when ready"
    return Verdict("INTERRUPTED", f"{detail}; {advice}.")


def decide(
    mode: Mode,
    outcomes: Sequence[Outcome],
    upgrade: UpgradeState = "not-run",
    *,
    interrupted: bool = False,
    stop: Stop | None = None,
    upgrade_message: str = "",
    collection_errors: Sequence[str] = (),
) -> Verdict:
    """Decide the verdict of a session from its check outcomes and the upgrade's state."""
    if interrupted or upgrade == "interrupted":
        return _interrupted(mode, upgrade, stop or Stop(changed=True), upgrade_message)
    verdict = _judge(mode, outcomes, upgrade, upgrade_message)
    absent = missing(outcomes, mode)
    if not absent and not collection_errors:
        return verdict
    gap = describe_missing(absent, collection_errors)
    failed = upgrade == "failed" or any(
        o.phase in JUDGED[mode] and o.outcome in BLOCKING for o in outcomes
    )
    if not failed:
        # Nothing failed but something is missing: neither a good verdict nor a bad one
        # (UNHEALTHY, NO-GO) can be shown; the session is incomplete.
        judged = [o for o in outcomes if o.phase in JUDGED[mode]]
        of = f" of {len(judged)}" if absent else ""
        fixes = []
        if collection_errors:
            fixes.append("fix the collection error")
        if any(o.outcome == "deselected" for o in absent):
            fixes.append("run again without -k/-m/--deselect")
        if any(o.outcome == "not-collected" for o in absent):
            fixes.append("run again on the whole checks folder (no path, --ignore or -o)")
        selected = ("deselected", "not-collected")
        if not collection_errors and any(o.outcome not in selected for o in absent):
            fixes.append("run again to the end (without -x or a stop)")
        return Verdict(
            "INCOMPLETE",
            f"{gap.replace(' did not run', f'{of} did not run', 1)}; "
            + ("what ran passed, but " if verdict.good else "")
            + f"a verdict needs every check of the session: {' and '.join(fixes)}.",
        )
    return Verdict(verdict.word, f"{verdict.reason.removesuffix('.')}; also, {gap}.")


def _judge(
    mode: Mode, outcomes: Sequence[Outcome], upgrade: UpgradeState, upgrade_message: str
) -> Verdict:
    pre_failed = blocking(outcomes, "preflight")
    pre_ran = [o for o in outcomes if o.phase == "preflight" and o.outcome in ("passed", "waived")]
    post_failed = blocking(outcomes, "post") + blocking(outcomes, "upgrade")
    post_ran = [o for o in outcomes if o.phase == "post" and o.outcome in ("passed", "waived")]
    pre_skipped = [o for o in outcomes if o.phase == "preflight" and o.outcome == "skipped"]
    post_skipped = [o for o in outcomes if o.phase == "post" and o.outcome == "skipped"]

    if mode == "health":
        if pre_failed:
            return Verdict("UNHEALTHY", f"{len(pre_failed)} check(s) failed: {_names(pre_failed)}.")
        if not pre_ran:
            return Verdict("UNHEALTHY", "no health check ran, so health was not shown.")
        return Verdict("HEALTHY", f"{_tally(pre_ran, 'health', pre_skipped)}.")

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
                "GO", f"{_tally(pre_ran, 'preflight', pre_skipped)}; the upgrade may start."
            )
        if upgrade == "failed":
            detail = f": {upgrade_message}" if upgrade_message else ""
            # the procedure's own message may already say how to resume: say it once
            advice = (
                "" if "re-run" in upgrade_message else "; re-run to resume once the cause is fixed"
            )
            return Verdict("UPGRADE-FAILED", f"the upgrade did not complete{detail}{advice}.")
        if upgrade == "not-run":
            return Verdict("UPGRADE-FAILED", "the upgrade did not run although it was requested.")

    if post_failed:
        return Verdict(
            "VERIFY-FAILED",
            f"post-upgrade verification failed ({_names(post_failed)}).",
        )
    if not post_ran:
        return Verdict("VERIFY-FAILED", "no post-upgrade check ran, so the result was not shown.")
    earlier = pre_ran if mode == "upgrade" else []
    return Verdict("UPGRADED", f"{_tally(post_ran, 'post-upgrade', post_skipped, earlier)}.")
