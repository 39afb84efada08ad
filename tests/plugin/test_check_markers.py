"""The plugin applies `needs_target_version`: a check of a change is part of a session only
when --to-version says what the change is; without it the session is a health check."""

from __future__ import annotations

import pytest

from tests.plugin.test_plugin_core import result_json, run

pytest_plugins = ["pytester"]

CHECKS = '''
import pytest

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-HEALTH")
def test_health():
    """A fact of health."""


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-CHANGE")
def test_change():
    """A fact of the change."""
'''


def check_ids(pytester: pytest.Pytester) -> dict[str, str]:
    checks = result_json(pytester)["checks"]
    assert isinstance(checks, list)
    return {c["id"]: c["outcome"] for c in checks}


def test_a_health_session_leaves_out_the_checks_of_a_change(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = run(pytester, "--target=dtr.example.com")
    assert result.ret == pytest.ExitCode.OK, result.outlines
    assert check_ids(pytester) == {"PRE-HEALTH": "passed"}
    assert str(result.outlines[-1]).startswith("VERDICT: HEALTHY")


def test_a_plan_session_runs_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4")
    assert result.ret == pytest.ExitCode.OK, result.outlines
    assert check_ids(pytester) == {"PRE-HEALTH": "passed", "PRE-CHANGE": "passed"}
    assert str(result.outlines[-1]).startswith("VERDICT: GO")


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "upgrade.plugin", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.needs_target_version: a check of a change*"])
