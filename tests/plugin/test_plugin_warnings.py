"""Warnings: the harness's own suite fails on every one; an operator's session never does, so a
dependency's leaked socket or deprecation cannot change its verdict or exit status."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUITE_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

# What a dependency does that the checks cannot help: a socket left to the garbage collector
# (the docker SDK's, when the engine is unreachable), a deprecation, an exception in __del__,
# and a socket in a reference cycle that only the collector at the session's end frees.
LEAKY_CHECKS = '''
import socket
import warnings

import pytest


class Cycle:
    def __init__(self):
        self.me = self
        self.sock = socket.socket()


class Broken:
    def __del__(self):
        raise RuntimeError("a dependency failed in __del__")


@pytest.mark.preflight
@pytest.mark.check("PRE-LEAK")
def test_leaks_a_socket():
    """Leaves a socket unclosed."""
    socket.socket()


@pytest.mark.preflight
@pytest.mark.check("PRE-DEPRECATED")
def test_deprecated():
    """Calls something deprecated."""
    warnings.warn("this API is deprecated", DeprecationWarning)


@pytest.mark.preflight
@pytest.mark.check("PRE-UNRAISABLE")
def test_unraisable():
    """Drops an object whose __del__ raises."""
    Broken()


@pytest.mark.preflight
@pytest.mark.check("PRE-CYCLE")
def test_cycle():
    """Leaves a socket in a reference cycle."""
    Cycle()
'''

DEPRECATED_CHECK = '''
import warnings


@pytest.mark.preflight
@pytest.mark.check("PRE-DEPRECATED")
def test_deprecated():
    """Calls something deprecated."""
    warnings.warn("this API is deprecated", DeprecationWarning)
'''

DOCKER_LEAK = '''
import docker
import pytest


@pytest.mark.preflight
@pytest.mark.check("PRE-ENGINE")
def test_engine_unreachable():
    """Asks an engine that is not there through the docker SDK, which leaks its socket."""
    with pytest.raises(docker.errors.DockerException):
        docker.from_env()
'''

STRICT_INI = "[pytest]\nfilterwarnings =\n    error\n"


def result_json(pytester: pytest.Pytester) -> dict[str, object]:
    data = json.loads((pytester.path / "out" / "latest" / "result.json").read_text())
    assert isinstance(data, dict)
    return data


def operator_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An operator's session in a process of its own, as operators run it; what its checks
    leak dies with it instead of reaching the tests that run after this one."""
    return pytester.runpytest_subprocess(
        "-p", "upgrade.plugin", "--report-dir", "out", "--target=dtr.example.com", *args
    )


def test_this_suite_turns_warnings_into_errors(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("filterwarnings")
    assert marker is not None
    assert marker.args == ("error",)
    with pytest.raises(UserWarning):
        warnings.warn("caught", UserWarning, stacklevel=1)


def test_the_project_ini_has_no_warning_filters() -> None:
    import tomllib

    ini = tomllib.loads((SUITE_CONFTEST.parents[1] / "pyproject.toml").read_text())
    assert "filterwarnings" not in ini["tool"]["pytest"]["ini_options"]


# The inner session runs in this test's warning filters: relaxed, so only its conftest counts.
@pytest.mark.filterwarnings("default")
def test_the_suite_fails_on_a_warning_but_checks_outside_it_do_not(
    pytester: pytest.Pytester,
) -> None:
    # Not a package named `tests`: that module name is this suite's own.
    tests = pytester.mkdir("suite")
    (tests / "conftest.py").write_text(SUITE_CONFTEST.read_text())
    (tests / "test_warns.py").write_text(
        "import socket, warnings\n"
        "import pytest\n\n"
        "def test_warns():\n    warnings.warn('x', UserWarning)\n\n"
        "def test_deprecation():\n    warnings.warn('x', DeprecationWarning)\n\n"
        "def test_leak():\n    socket.socket()\n\n"
        "@pytest.mark.filterwarnings('ignore::UserWarning')\n"
        "def test_relaxed_by_its_own_mark():\n    warnings.warn('x', UserWarning)\n\n"
        "def test_quiet():\n    pass\n"
    )
    (tests / "test_import_warns.py").write_text(
        "import warnings\nwarnings.warn('old module', DeprecationWarning)\n\n"
        "def test_never_runs():\n    pass\n"
    )
    other = pytester.mkdir("elsewhere")
    (other / "test_other.py").write_text(
        "import warnings\n\ndef test_warns_outside():\n    warnings.warn('x', UserWarning)\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA", "--continue-on-collection-errors")
    result.assert_outcomes(passed=3, failed=3, errors=1, warnings=1)
    for line in (
        "*PASSED suite/test_warns.py::test_relaxed_by_its_own_mark*",
        "*PASSED suite/test_warns.py::test_quiet*",
        "*PASSED elsewhere/test_other.py::test_warns_outside*",
        "*ERROR suite/test_import_warns.py*DeprecationWarning: old module*",
        "*FAILED suite/test_warns.py::test_warns - UserWarning: x*",
        "*FAILED suite/test_warns.py::test_deprecation - DeprecationWarning: x*",
        "*FAILED suite/test_warns.py::test_leak*Unraisable*",
    ):
        result.stdout.fnmatch_lines([line])


def test_a_leaky_dependency_fails_a_plain_strict_session(pytester: pytest.Pytester) -> None:
    """The control: without the harness these checks fail under `filterwarnings = error`."""
    pytester.makeini(STRICT_INI + "markers =\n    preflight\n    check\n")
    pytester.makepyfile(test_checks=LEAKY_CHECKS)
    # In a process of its own: what it leaks must not reach the tests that run after it.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:upgrade.plugin")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) >= 3, result.outlines
    result.stdout.fnmatch_lines(["*FAILED*test_leaks_a_socket*"])


@pytest.mark.parametrize("ini", [STRICT_INI, None], ids=["operator-ini-error", "no-ini"])
def test_an_operator_session_keeps_its_verdict_and_exit_status(
    pytester: pytest.Pytester, ini: str | None
) -> None:
    if ini is not None:
        pytester.makeini(ini)
    pytester.makepyfile(test_checks=LEAKY_CHECKS)
    result = operator_session(pytester)
    assert result.ret == 0, result.outlines
    result.assert_outcomes(passed=4, warnings=result.parseoutcomes().get("warnings", 0))
    assert result.outlines[-1].startswith("VERDICT: HEALTHY"), result.outlines
    assert "ResourceWarning" not in result.stdout.str()
    data = result_json(pytester)
    assert data["verdict"] == "HEALTHY"
    checks = data["checks"]
    assert isinstance(checks, list)
    assert {c["outcome"] for c in checks} == {"passed"}


def test_an_unreachable_engine_in_an_operator_session_is_not_an_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-engine.sock")
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(test_checks=DOCKER_LEAK)
    result = operator_session(pytester)
    assert result.ret == 0, result.outlines
    assert result.outlines[-1].startswith("VERDICT: HEALTHY"), result.outlines
    assert result_json(pytester)["verdict"] == "HEALTHY"


def test_the_operator_filters_end_with_the_session(pytester: pytest.Pytester) -> None:
    before = list(warnings.filters)
    pytester.makepyfile(test_checks="import pytest\n" + DEPRECATED_CHECK)
    result = pytester.runpytest(
        "-p", "upgrade.plugin", "--report-dir", "out", "--target=dtr.example.com"
    )
    assert result.ret == 0
    assert list(warnings.filters) == before
