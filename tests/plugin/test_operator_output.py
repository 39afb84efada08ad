"""Operator-sized output: one line per failed check (its ID and the message that names the fix),
the detail in the report; pytest's tracebacks with --tb=... or --debug, or when the harness
itself is at fault (then with one line saying so)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

CHECKS = '''
import pytest

@pytest.mark.preflight
@pytest.mark.check("PRE-FAILS")
def test_fails(evidence):
    """A finding about the DTR."""
    value = {"replicas": 3}
    assert value["replicas"] == 1, "only one replica answers: repair the others first"

@pytest.mark.preflight
@pytest.mark.check("PRE-FAILS-EXPLICITLY")
def test_fails_explicitly():
    """A finding raised with pytest.fail (traceback form by default in pytest)."""
    marker = "the check's own source"
    pytest.fail("garbage collection stays disabled: see PRE-FAILS")

@pytest.mark.preflight
@pytest.mark.check("PRE-BUGGY")
def test_buggy():
    """A check that is itself broken."""
    {}["no such key"]
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_checks=CHECKS)
    return pytester.runpytest("--report-dir", "out", "--target=dtr.example.com", *args)


def test_a_failed_check_is_one_line_with_its_id_and_the_fix(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    text = result.stdout.str()
    result.stdout.fnmatch_lines(
        ["PRE-FAILS: only one replica answers: repair the others first"], consecutive=True
    )
    assert 'value["replicas"] == 1' not in text, "the check's own source is shown"
    bundle = (pytester.path / "out" / "latest").resolve()
    record = next(
        c for c in json.loads((bundle / "result.json").read_text())["checks"]
        if c["id"] == "PRE-FAILS"
    )  # fmt: skip
    assert 'value["replicas"] == 1' in record["evidence"]["failure detail"]


def test_a_check_failed_with_pytest_fail_is_one_line_too(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.stdout.fnmatch_lines(
        ["PRE-FAILS-EXPLICITLY: garbage collection stays disabled: see PRE-FAILS"]
    )
    assert "marker = " not in result.stdout.str(), "the check's own source is shown"


def test_a_check_broken_in_itself_is_named_a_harness_bug(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    result.stdout.fnmatch_lines(
        ["dtr-upgrade: PRE-BUGGY: KeyError: 'no such key' - a harness bug, not a finding*"]
    )
    assert '{}["no such key"]' in result.stdout.str(), "a harness bug keeps its traceback"
    assert str(result.outlines[-1]).startswith("VERDICT: UNHEALTHY")


@pytest.mark.parametrize("option", ["--tb=long", "--debug=debug.log"])
def test_tracebacks_come_back_on_request(pytester: pytest.Pytester, option: str) -> None:
    result = run(pytester, option)
    assert 'value["replicas"] == 1' in result.stdout.str()


def test_the_terminal_names_the_final_absolute_paths(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    bundle = (pytester.path / "out" / "latest").resolve()
    text = result.stdout.str()
    assert ".incomplete-" not in text, "a terminal line names the staging folder"
    result.stdout.fnmatch_lines(
        [
            f"*generated xml file: {bundle / 'junit.xml'}*",
            f"*Generated html report: {(bundle / 'report.html').as_uri()}*",
            f"bundle: {bundle}",
        ]
    )
