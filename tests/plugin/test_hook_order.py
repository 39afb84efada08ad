"""The plugin's own steps run in their written order, whatever the hook annotations of the other
plugins: at the end of a session the verdict comes before the report is written and the seal
after it, VERDICT last; each check's outcome is recorded before the report takes its evidence."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.pytester_checks import make_checks
from upgrade.plugin import session_end
from upgrade.plugin.check_runs import CheckRuns
from upgrade.plugin.harness import Harness
from upgrade.plugin.report import ReportPlugin
from upgrade.plugin.session_end import SessionEnd

pytest_plugins = ["pytester"]

SESSION_END = [
    "keep_measurements",
    "decide_verdict",
    "compare_with_earlier",
    "fill_environment_table",
    "pytest-html writes report.html",
    "the terminal's summary",
    "write_result",
    "seal_bundle",
    "finalise_bundle",
    "copy_asked_files",
    "close_target",
    "fail_on_bundle_problems",
    "write_verdict",
]


class Witness:
    """Notes when pytest-html writes its report and when the terminal writes its summary."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self) -> None:
        """Asked by pytest-html while it writes report.html."""
        self.seen.append("pytest-html writes report.html")

    def pytest_terminal_summary(self) -> None:
        """Asked by the terminal reporter after the reports were written."""
        if "the terminal's summary" not in self.seen:
            self.seen.append("the terminal's summary")


def spy(monkeypatch: pytest.MonkeyPatch, seen: list[str], owner: Any, name: str) -> None:
    """Let `owner.name` note its name in `seen` each time it runs, then do its work."""
    original: Callable[..., Any] = getattr(owner, name)

    def noted(*args: Any, **kwargs: Any) -> Any:
        seen.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, noted)


def test_the_session_end_runs_its_steps_in_the_written_order(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    for owner, name in [
        *((SessionEnd, step) for step in SESSION_END if hasattr(SessionEnd, step)),
        (ReportPlugin, "compare_with_earlier"),
        (ReportPlugin, "fill_environment_table"),
        (Harness, "close_target"),
        (session_end, "write_verdict"),
    ]:
        spy(monkeypatch, seen, owner, name)
    make_checks(pytester)
    result = pytester.runpytest_inprocess(
        "-p", "upgrade.plugin", "--report-dir", "out", "--target=dtr.example.com",
        plugins=[Witness(seen)],
    )  # fmt: skip
    assert result.outlines[-1].startswith("VERDICT: HEALTHY")
    assert seen == SESSION_END


def test_each_check_report_is_recorded_before_it_gets_its_evidence(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    spy(monkeypatch, seen, CheckRuns, "record_outcome")
    spy(monkeypatch, seen, ReportPlugin, "attach_evidence")
    make_checks(pytester, fail_a=True)
    result = pytester.runpytest_inprocess(
        "-p", "upgrade.plugin", "--report-dir", "out", "--target=dtr.example.com"
    )
    assert result.outlines[-1].startswith("VERDICT: UNHEALTHY")
    # Two preflight checks, each with setup, call and teardown reports.
    assert seen == ["record_outcome", "attach_evidence"] * 6


def test_a_blocked_report_plugin_takes_no_step_of_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    for name in ("point_reports_into_bundle", "attach_evidence", "fill_environment_table"):
        spy(monkeypatch, seen, ReportPlugin, name)
    make_checks(pytester)
    result = pytester.runpytest_inprocess(
        "-p", "upgrade.plugin", "-p", "no:dtr-upgrade-report", "--report-dir", "out",
        "--target=dtr.example.com",
    )  # fmt: skip
    assert result.outlines[-1].startswith("VERDICT: HEALTHY")
    assert seen == []
