"""`verdict.decide`: every mode, every way a check can fail to run, every way a session ends."""

from __future__ import annotations

import pytest

from upgrade.rules.verdict import GOOD, NOT_RUN, Outcome, Stop, decide


def pre(check_id: str, outcome: str = "passed", message: str = "") -> Outcome:
    return Outcome(check_id, "preflight", outcome, message)


def post(check_id: str, outcome: str = "passed", message: str = "") -> Outcome:
    return Outcome(check_id, "post", outcome, message)


def upg(outcome: str = "passed") -> Outcome:
    return Outcome("UPG-RUN", "upgrade", outcome)


FULL = [pre("PRE-A"), pre("PRE-B"), upg(), post("POST-A"), post("POST-B")]


@pytest.mark.parametrize(
    ("mode", "outcomes", "upgrade", "word"),
    [
        ("health", [pre("PRE-A"), pre("PRE-B")], "not-run", "HEALTHY"),
        ("plan", [pre("PRE-A"), pre("PRE-B")], "not-run", "GO"),
        ("upgrade", FULL, "passed", "UPGRADED"),
        ("verify", [post("POST-A"), post("POST-B")], "not-run", "UPGRADED"),
    ],
)
def test_a_complete_passing_session_is_good(
    mode: str, outcomes: list[Outcome], upgrade: str, word: str
) -> None:
    verdict = decide(mode, outcomes, upgrade)  # type: ignore[arg-type]
    assert verdict.word == word
    assert verdict.good


@pytest.mark.parametrize("kind", sorted(NOT_RUN))
@pytest.mark.parametrize(
    ("mode", "outcomes", "upgrade", "index"),
    [
        ("health", [pre("PRE-A"), pre("PRE-B")], "not-run", 1),
        ("plan", [pre("PRE-A"), pre("PRE-B")], "not-run", 0),
        ("upgrade", FULL, "passed", 3),
        ("upgrade", FULL, "passed", 0),
        ("verify", [post("POST-A"), post("POST-B")], "not-run", 1),
    ],
)
def test_any_check_that_did_not_run_makes_a_good_verdict_incomplete(
    kind: str, mode: str, outcomes: list[Outcome], upgrade: str, index: int
) -> None:
    changed = list(outcomes)
    missing = changed[index]
    changed[index] = Outcome(missing.check_id, missing.phase, kind)
    verdict = decide(mode, changed, upgrade)  # type: ignore[arg-type]
    assert verdict.word == "INCOMPLETE"
    assert not verdict.good
    assert missing.check_id in verdict.reason
    assert "1 check of" in verdict.reason


def test_a_phase_the_mode_does_not_judge_may_be_absent() -> None:
    outcomes = [pre("PRE-A"), Outcome("POST-A", "post", "deselected")]
    assert decide("plan", outcomes).word == "GO"


def test_nothing_at_all_ran_because_of_a_selection_is_incomplete_not_unhealthy() -> None:
    outcomes = [pre("PRE-A", "deselected"), pre("PRE-B", "deselected")]
    verdict = decide("health", outcomes)
    assert verdict.word == "INCOMPLETE"
    assert "2 checks of 2 did not run (deselected by -k/-m/--deselect: PRE-A, PRE-B)" in (
        verdict.reason
    )
    assert "run again without -k/-m/--deselect" in verdict.reason


def test_a_failure_keeps_its_bad_verdict_and_names_what_did_not_run() -> None:
    outcomes = [pre("PRE-A", "failed", "backup missing"), pre("PRE-B", "not-run")]
    verdict = decide("plan", outcomes)
    assert verdict.word == "NO-GO"
    assert verdict.reason.startswith("preflight failed (PRE-A); nothing was changed; also, ")
    assert "never started: PRE-B" in verdict.reason


def test_collection_errors_make_the_session_incomplete() -> None:
    verdict = decide("plan", [pre("PRE-A")], collection_errors=["checks/test_x.py"])
    assert verdict.word == "INCOMPLETE"
    assert verdict.reason.startswith("checks failed to collect in checks/test_x.py")
    assert "fix the collection error" in verdict.reason


def test_waived_and_skipped_checks_are_not_counted_as_passed() -> None:
    outcomes = [pre("PRE-A"), pre("PRE-B", "waived"), pre("PRE-C", "skipped")]
    verdict = decide("plan", outcomes)
    assert verdict.word == "GO"
    assert verdict.reason == (
        "1 preflight check passed and 1 was waived (PRE-B), 1 skipped (PRE-C); the upgrade may "
        "start."
    )
    assert decide("health", [pre("PRE-A"), pre("PRE-C", "skipped")]).reason == (
        "1 health check passed, 1 skipped (PRE-C)."
    )


def test_a_skipped_check_is_counted_and_takes_away_the_all() -> None:
    # A skipped check proved nothing (PRE-COMPONENT-IMAGES when no image could be listed):
    # "all N passed" would claim it did.
    outcomes = [pre("PRE-A"), pre("PRE-B"), pre("PRE-COMPONENT-IMAGES", "skipped")]
    assert decide("plan", outcomes).reason == (
        "2 preflight checks passed, 1 skipped (PRE-COMPONENT-IMAGES); the upgrade may start."
    )
    assert decide("plan", outcomes[:2]).reason == (
        "all 2 preflight checks passed; the upgrade may start."
    )
    after = [post("POST-A"), post("POST-B"), post("POST-C", "skipped"), pre("PRE-D", "skipped")]
    assert decide("verify", after).reason == "2 post-upgrade checks passed, 1 skipped (POST-C)."
    # One item per replica: the count adds up to the items named.
    per_replica = [
        *after,
        Outcome("POST-C", "post", "skipped"),
        Outcome("POST-C", "post", "skipped"),
    ]
    assert decide("verify", per_replica).reason == (
        "2 post-upgrade checks passed, 3 skipped (POST-C x3)."
    )


def test_only_skipped_checks_show_nothing() -> None:
    assert decide("plan", [pre("PRE-A", "skipped")]).word == "NO-GO"
    assert decide("health", [pre("PRE-A", "skipped")]).word == "UNHEALTHY"


@pytest.mark.parametrize(
    ("mode", "upgrade", "stop", "advice"),
    [
        ("plan", "not-run", Stop("SIGTERM", "preflight"), "nothing was changed; re-run the same"),
        ("health", "not-run", Stop("Ctrl-C", None), "nothing was changed; re-run the same"),
        ("verify", "not-run", Stop("SIGHUP", "post"), "nothing was changed; re-run the same com"),
        (
            "upgrade",
            "interrupted",
            Stop("SIGTERM", "upgrade", changed=True),
            "re-run the same command: the DTR upgrade resumes where it stopped",
        ),
        (
            "upgrade",
            "not-run",
            Stop("SIGTERM", "upgrade", changed=True),
            "re-run the same command: the DTR upgrade resumes where it stopped",
        ),
        (
            "upgrade",
            "passed",
            Stop("Ctrl-C", "post", changed=True, verify_command="pytest --phase=post X"),
            "after the upgrade completed; verify it with pytest --phase=post X.",
        ),
        (
            "upgrade",
            "failed",
            Stop("Ctrl-C", "post", changed=True),
            "re-run to resume once the cause is fixed",
        ),
    ],
)
def test_an_interrupted_session_says_what_to_do_next_for_the_phase_it_stopped_in(
    mode: str, upgrade: str, stop: Stop, advice: str
) -> None:
    verdict = decide(mode, FULL, upgrade, interrupted=True, stop=stop)  # type: ignore[arg-type]
    assert verdict.word == "INTERRUPTED"
    assert f"stopped by {stop.cause}" in verdict.reason
    assert advice in verdict.reason
    if not stop.changed:
        assert "resume" not in verdict.reason


def test_no_verdict_outside_the_good_ones_is_good() -> None:
    assert {"HEALTHY", "GO", "UPGRADED"} == GOOD


def test_upgraded_counts_preflight_warnings_and_waivers_too() -> None:
    outcomes = [
        Outcome("PRE-A", "preflight", "passed", warnings=("the target is not the latest patch",)),
        Outcome("PRE-B", "preflight", "waived"),
        Outcome("UPG-BOOTSTRAPPER", "upgrade", "passed"),
        Outcome("POST-A", "post", "passed", warnings=("one blob was already missing",)),
        Outcome("POST-B", "post", "passed"),
    ]
    assert decide("upgrade", outcomes, "passed").reason == (
        "all 2 post-upgrade checks passed, and 1 preflight check was waived (PRE-B), "
        "with 2 warnings (POST-A, PRE-A)."
    )


def test_missing_checks_are_counted_as_items_like_every_count() -> None:
    outcomes = [
        Outcome("PRE-PING", "preflight", "passed"),
        *[Outcome("PRE-PING-X", "preflight", "deselected") for _ in range(3)],
    ]
    reason = decide("health", outcomes).reason
    assert reason.startswith(
        "3 checks of 4 did not run (deselected by -k/-m/--deselect: PRE-PING-X x3)"
    ), reason
