"""Each check's run: its start behind the gate, and its outcome in its record.

`CheckRuns` skips a check the gate holds back before any of its fixtures is set up, records each
check's outcome (a waived failure as waived, a failure as one line naming the check ID) and then
hands the report to the steps that follow it (the report's evidence), in the order it was given
them. An interruption is remembered for the verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import pytest

from upgrade.errors import HarnessError
from upgrade.evidence.records import CheckRecord, utc_now
from upgrade.plugin.collection import record_key
from upgrade.plugin.gate import skip_reason
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from upgrade.plugin.harness import Harness

# A step after a check's outcome is recorded: its record, pytest's call and the report.
ReportStep = Callable[[CheckRecord, pytest.CallInfo[None], pytest.TestReport], None]


class CheckRuns:
    """The per-check hooks of one session."""

    def __init__(self, harness: Harness, after_outcome: Sequence[ReportStep] = ()) -> None:
        self.harness = harness
        # What each report goes through, in this order: the outcome into the record first, so
        # the steps after it (the report's evidence) see the record's final message.
        self.report_steps: tuple[ReportStep, ...] = (self.record_outcome, *after_outcome)

    # tryfirst: before _pytest.runner sets up the check's fixtures, so a check the gate holds
    # back is skipped before a fixture (the upgrade itself) could start.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Close the gate: no upgrade or post check runs after a failed preflight."""
        record = item.stash.get(record_key, None)
        if record is None:
            return
        harness = self.harness
        record.started_at = utc_now()
        harness.current_phase = record.phase
        harness.session_record.phase_started(record.phase, record.started_at)
        reason = skip_reason(
            record.phase,
            harness.settings.mode,
            harness.outcomes(),
            harness.upgrade_state,
            harness.upgrade_message,
        )
        if reason:
            pytest.skip(reason)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Pass each check's report through `report_steps`, in order."""
        report = yield
        record = item.stash.get(record_key, None)
        if record is None:
            return report
        for step in self.report_steps:
            step(record, call, report)
        return report

    def record_outcome(
        self, record: CheckRecord, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        """Record the check's outcome; turn waived failures into waived; keep errors one line."""
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, HarnessError):
            report.longrepr = f"{record.check_id}: {exc}"
        elif report.failed and exc is not None:
            self._operator_sized(record, report, exc)
        if call.when == "call":
            record.duration_s = report.duration
        if report.failed:
            waiver = self.harness.waivers.get(record.check_id) if call.when == "call" else None
            if record.outcome not in verdicts.BLOCKING:
                record.message = _failure_message(exc, report)
            if waiver is not None:
                record.outcome = "waived"
                record.waiver = waiver.as_dict()
                report.outcome = "skipped"
                report.wasxfail = f"{waiver.describe()} (failure: {record.message})"
            elif record.outcome not in verdicts.BLOCKING:
                record.outcome = "failed" if call.when == "call" else "error"
        elif report.skipped:
            if record.outcome == "not-run":
                record.outcome = "skipped"
                record.message = _skip_reason(report)
        elif call.when == "call" and record.outcome == "not-run":
            record.outcome = "passed"
        if call.when == "teardown":
            self.harness.session_record.phase_finished(record.phase, utc_now())

    def _operator_sized(
        self, record: CheckRecord, report: pytest.TestReport, exc: BaseException
    ) -> None:
        """A failed check is one line on the terminal (its ID and the message that names the
        fix), its detail in the report; an exception that is no finding about the DTR is a
        harness bug and keeps its traceback. --tb=... or --debug keep pytest's own output."""
        option = self.harness.config.option
        if isinstance(exc, AssertionError | pytest.fail.Exception):
            if option.tbstyle == "auto" and not option.debug:
                detail = report.longreprtext
                if detail:
                    record.attach("failure detail", detail)
                report.longrepr = f"{record.check_id}: {_failure_message(exc, report)}"
            return
        if isinstance(exc, pytest.skip.Exception | KeyboardInterrupt):
            return
        self.harness.harness_bugs.append(
            f"{record.check_id}: {type(exc).__name__}: {exc}".splitlines()[0]
        )

    # tryfirst: before the terminal reporter's (it renders the whole traceback, with every
    # frame's arguments) and any other plugin's, so an impl that raises cannot keep the
    # interruption from being known: pluggy skips the impls after one that raised.
    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Remember the interruption (Ctrl-C, SIGTERM/SIGHUP turned into it, `pytest.exit`):
        the verdict becomes INTERRUPTED and the bundle is sealed. pytest reports collection
        errors through this hook too: those are missing checks, not an interruption."""
        if isinstance(excinfo.value, pytest.Session.Interrupted):
            return
        signals = self.harness.signals
        self.harness.interrupted = True
        if isinstance(excinfo.value, pytest.exit.Exception):
            signals.cause = signals.cause or f"pytest.exit ({excinfo.value.msg})"
        signals.interrupted_by_ctrl_c()


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _failure_message(exc: BaseException | None, report: pytest.TestReport) -> str:
    if exc is not None:
        text = str(exc).strip() or type(exc).__name__
        return text.splitlines()[0]
    return str(report.longrepr or "").strip().splitlines()[-1] if report.longrepr else ""
