"""The plugin loads the ecosystem's way (a pytest11 entry point): every option that takes a path
works in the space form `--opt VALUE` from any directory, with `pytest` and `python -m pytest`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pytester_checks import make_checks
from upgrade.config.options import OPTIONS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
# Every option whose value is a path: the path kind, and the two that take a file or folder.
PATH_OPTIONS = [
    *sorted(spec.name for spec in OPTIONS if spec.kind == "path"),
    "--update-vuln-db",
    "--compare-with",
]
PYTEST = Path(sys.executable).with_name("pytest")


def test_the_plugin_is_a_pytest11_entry_point() -> None:
    points = [
        e for e in importlib.metadata.entry_points(group="pytest11") if e.value == "upgrade.plugin"
    ]
    assert [e.name for e in points] == ["upgrade.plugin"]
    assert "pytest_plugins" not in (ROOT / "conftest.py").read_text(), "registered twice"


@pytest.mark.parametrize("runner", ["pytest", "python -m pytest"])
@pytest.mark.parametrize("option", PATH_OPTIONS)
def test_a_path_option_in_the_space_form_from_another_directory(
    tmp_path: Path, option: str, runner: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    value = tmp_path / "outside-the-checkout" / "value"
    value.parent.mkdir()
    value.write_text("not what the option wants\n")
    command = [str(PYTEST)] if runner == "pytest" else [sys.executable, "-m", "pytest"]
    done = subprocess.run(
        [
            *command,
            "-p",
            "no:cacheprovider",
            "--target=dtr.invalid",
            option,
            str(value if option not in ("--report-dir", "--compare-with") else value.parent),
            "--co",
            "-q",
            str(ROOT / "checks" / "test_upgrade.py"),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "unrecognized arguments" not in output, output
    assert "file or directory not found" not in output, output
    if done.returncode == pytest.ExitCode.USAGE_ERROR:
        # The value reached the option: a refusal names the option, never a test path.
        assert option in output, output


def test_junitxml_and_html_go_where_the_user_asked_as_well_as_into_the_bundle(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    result = pytester.runpytest(
        "--report-dir", "out", "--target=dtr.example.com", "--junitxml=results.xml",
        "--html=ci/report.html",
    )  # fmt: skip
    assert str(result.outlines[-1]).startswith("VERDICT: HEALTHY")
    bundle = (pytester.path / "out" / "latest").resolve()
    junit = (pytester.path / "results.xml").read_text()
    assert junit == (bundle / "junit.xml").read_text()
    assert 'name="test_pre_a"' in junit
    html = (pytester.path / "ci" / "report.html").read_text()
    assert html == (bundle / "report.html").read_text()
    assert 'data-verdict="HEALTHY"' in html
