"""A warning a check records (`evidence.note`) keeps the verdict's word but reaches the operator:
one terminal line per warning before the verdict, the count and IDs in the verdict's sentence,
and the list under the report's verdict banner."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

CHECKS = '''
import pytest

@pytest.mark.preflight
@pytest.mark.check("PRE-WARNS")
def test_warns(evidence):
    """A check that passes with a finding to read."""
    evidence.note("2 tags are old images: re-push them")
    evidence.note("the scan is off: turn it on")

@pytest.mark.preflight
@pytest.mark.check("PRE-QUIET")
def test_quiet(evidence):
    """A check with nothing to say."""
'''


def run(pytester: pytest.Pytester, checks: str = CHECKS) -> pytest.RunResult:
    pytester.makepyfile(test_checks=checks)
    return pytester.runpytest("--report-dir", "out", "--target=dtr.example.com")


def test_each_warning_is_a_terminal_line_before_the_verdict(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.stdout.fnmatch_lines(
        [
            "WARNING PRE-WARNS: 2 tags are old images: re-push them",
            "WARNING PRE-WARNS: the scan is off: turn it on",
        ],
        consecutive=True,
    )
    last = str(result.outlines[-1])
    assert last == (
        "VERDICT: HEALTHY - all 2 health checks passed, with 2 warnings (PRE-WARNS)."
    ), result.stdout.str()
    assert result.ret == 0


def test_the_report_banner_lists_the_warnings(pytester: pytest.Pytester) -> None:
    run(pytester)
    bundle = (pytester.path / "out" / "latest").resolve()
    result = json.loads((bundle / "result.json").read_text())
    assert result["verdict"] == "HEALTHY"
    assert "with 2 warnings (PRE-WARNS)" in result["verdict_reason"]
    report = (bundle / "report.html").read_text()
    assert "dtr-warnings" in report
    assert "WARNING PRE-WARNS: the scan is off: turn it on" in report


def test_a_session_without_warnings_says_none(pytester: pytest.Pytester) -> None:
    result = run(pytester, CHECKS.replace("evidence.note", "print"))
    assert "WARNING" not in result.stdout.str()
    assert str(result.outlines[-1]) == "VERDICT: HEALTHY - all 2 health checks passed."
