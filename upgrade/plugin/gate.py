"""The gate between preflight and the upgrade: no upgrade or post check runs, and no upgrade
starts, unless every preflight check ran and passed, was waived or does not apply.

Pure: asked by the run state where the upgrade starts (`Harness.run_upgrade`) and by the check
runs' setup hook (`upgrade.plugin.check_runs`) before each check's fixtures are set up.
"""

from __future__ import annotations

from upgrade.rules import verdict as verdicts


def gate_problem(outcomes: list[verdicts.Outcome]) -> str | None:
    """Why the gate is closed (a preflight check failed, errored or did not run), or None
    when every preflight check ran and passed, was waived or does not apply."""
    failed = sorted({o.check_id for o in verdicts.blocking(outcomes, "preflight")})
    if failed:
        return f"gate closed: preflight failed ({', '.join(failed)}); nothing was changed"
    absent = [o for o in outcomes if o.phase == "preflight" and o.outcome in verdicts.NOT_RUN]
    if absent:
        return f"gate closed: {verdicts.describe_missing(absent)}; nothing was changed"
    return None


def skip_reason(
    phase: str,
    mode: str,
    outcomes: list[verdicts.Outcome],
    upgrade_state: verdicts.UpgradeState,
    upgrade_message: str,
) -> str | None:
    """Why a check of `phase` must not run now, or None: preflight always runs (and in verify
    mode every check does); the rest waits behind the gate, and a post check does not run
    after an upgrade that failed or was interrupted."""
    if phase == "preflight" or mode == "verify":
        return None
    closed = gate_problem(outcomes)
    if closed:
        return closed
    if phase == "post" and upgrade_state in ("failed", "interrupted"):
        return f"the upgrade {upgrade_state}: {upgrade_message}"
    return None
