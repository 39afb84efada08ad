"""`dtr-upgrade plan` (and the `lab` dispatch) through the real console entry and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest

from upgrade.cli import main

CONSOLE_SCRIPT = Path(sys.executable).with_name("dtr-upgrade")
TIMEOUT = 60

PLAN_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "from",
        "to",
        "allowed",
        "kind",
        "reason",
        "warnings",
        "path",
        "migrations",
        "image",
        "known_target",
    ],
    "properties": {
        "from": {"type": "string"},
        "to": {"type": "string"},
        "allowed": {"type": "boolean"},
        "kind": {"type": "string"},
        "reason": {"type": "string"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "path": {"type": "array", "items": {"type": "string"}},
        "migrations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["from", "to", "job"],
                "properties": {
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "job": {"type": "string"},
                },
            },
        },
        "image": {"type": "string"},
        "known_target": {"type": "boolean"},
    },
}


def run(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the installed `dtr-upgrade` (or `python -m upgrade.cli`) as an operator would."""
    command = [sys.executable, "-m", "upgrade.cli"] if module else [str(CONSOLE_SCRIPT)]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    __tracebackhide__ = True
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0]


# The real console entry


def test_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"{CONSOLE_SCRIPT} missing: pip install -e '.[test]'"


def test_acceptance_example_as_json() -> None:
    result = run("plan", "--from", "2.4.3", "--to", "2.6.4", "--json")
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["allowed"] is False
    assert document["kind"] == "skip-minor"
    assert document["path"] == ["2.4.3", "2.5.11", "2.6.4"]
    assert {"from": "2.5", "to": "2.6", "job": "metadatastoremigration"} in document["migrations"]
    assert document["image"] == "docker/dtr:2.6.4"
    assert (document["from"], document["to"]) == ("2.4.3", "2.6.4")


def test_allowed_upgrade_exits_zero_with_readable_text() -> None:
    result = run("plan", "--from", "2.5.3", "--to", "2.6.4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "DTR upgrade 2.5.3 -> 2.6.4: ALLOWED as a direct upgrade (minor-upgrade)"
    )
    assert "Recommended path (1 upgrade): 2.5.3 -> 2.6.4" in result.stdout
    assert "then job metadatastoremigration (up to 3 attempts)" in result.stdout
    assert "Bootstrapper image for 2.6.4: docker/dtr:2.6.4" in result.stdout


def test_python_dash_m_runs_the_same_command() -> None:
    result = run("plan", "--from", "2.9.30", "--to", "2.10.3", "--json", module=True)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["image"] == "registry.mirantis.com/msr/dtr:2.10.3"
    assert document["kind"] == "minor-upgrade"


def test_malformed_version_is_one_line_naming_the_value() -> None:
    result = run("plan", "--from", "2.6", "--to", "2.6.4", "--json")
    assert_one_line_error(result, "--from", "malformed version '2.6'", "MAJOR.MINOR.PATCH")


def test_bad_catalogue_is_one_line_naming_the_file(tmp_path: Path) -> None:
    catalogue = tmp_path / "site.toml"
    catalogue.write_text('[lines."2.7"]\npatches = "nine"\n', encoding="utf-8")
    result = run("plan", "--from", "2.6.4", "--to", "2.7.1", "--catalog", str(catalogue))
    assert_one_line_error(result, f"catalogue file {catalogue}", "patches must list")


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        # Images are tagged by release: docker/dtr:2.7.0-29094adc does not exist.
        ("2.6.4", "2.7.0-29094adc", ("is a build of release 2.7.0", "give --to 2.7.0")),
        ("2.5.11", "2.6.4-rc1", ("2.6.4-rc1 is a pre-release, not a release", "MAJOR.MINOR.PATCH")),
        ("2.6.4", "2.7.0-beta2", ("2.7.0-beta2 is a pre-release",)),
    ],
)
def test_a_target_with_a_suffix_is_a_usage_error_naming_the_release(
    current: str, target: str, expected: tuple[str, ...]
) -> None:
    result = run("plan", "--from", current, "--to", target)
    assert_one_line_error(result, f"--to {target}", *expected)
    assert "docker/dtr:" not in result.stderr


def test_missing_option_is_a_one_line_usage_error() -> None:
    assert_one_line_error(run("plan", "--from", "2.6.4"), "required: --to")


# In-process


@pytest.mark.parametrize(
    ("current", "target", "status", "path"),
    [
        ("2.6.0", "2.6.4", 0, ["2.6.0", "2.6.4"]),
        ("2.6.4", "2.5.11", 1, []),
        ("2.6.4", "2.6.4", 1, []),
        ("2.9.30", "3.0.0", 1, []),
        ("2.3.0", "2.5.0", 1, ["2.3.0", "2.4.12", "2.5.0"]),
        ("2.7.0-29094adc", "2.8.0", 0, ["2.7.0-29094adc", "2.8.0"]),
        ("2.6.4-rc1", "2.6.4", 0, ["2.6.4-rc1", "2.6.4"]),  # a pre-release is not 2.6.4
    ],
)
def test_json_document_and_exit_status(
    capsys: pytest.CaptureFixture[str], current: str, target: str, status: int, path: list[str]
) -> None:
    assert main(["plan", "--from", current, "--to", target, "--json"]) == status
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert document["path"] == path
    assert document["allowed"] is (status == 0)


def test_refusal_text_says_there_is_no_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--from", "2.9.30", "--to", "3.0.0"]) == 1
    out = capsys.readouterr().out
    assert "NOT ALLOWED as a direct upgrade (major-upgrade)" in out
    assert "Mirantis Migration Tool" in out
    assert "Recommended path: none" in out


def test_an_unknown_target_is_said_to_be_unknown_not_planned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """2.99.0 is in no catalogue line: it used to get 93 invented hops through 2.11.0 ... 2.98.0."""
    assert main(["plan", "--from", "2.6.4", "--to", "2.99.0"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "DTR upgrade 2.6.4 -> 2.99.0: UNKNOWN TARGET, not planned (not a release in the catalogue)"
    )
    assert "the target version 2.99.0 is unknown" in out
    assert "upgrade/data/catalog.toml" in out
    assert "--catalog FILE" in out
    assert "Recommended path: none" in out
    assert "2.11.0" not in out
    assert len(out.splitlines()) < 8
    assert main(["plan", "--from", "2.6.4", "--to", "2.99.0", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert (document["known_target"], document["path"], document["image"]) == (False, [], "")


def test_each_hop_names_the_ucp_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--from", "2.4.12", "--to", "2.6.4"]) == 1
    out = capsys.readouterr().out
    assert "1. 2.4.12 -> 2.5.11 with docker/dtr:2.5.11 (needs UCP 3.0)" in out
    assert "2. 2.5.11 -> 2.6.4 with docker/dtr:2.6.4 (needs UCP 3.1)" in out


def test_user_catalogue_changes_the_recommended_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = tmp_path / "site.toml"
    catalogue.write_text('[lines."2.7"]\npatches = "9"\nlast_patch_known = true\n', "utf-8")
    argv = ["plan", "--from", "2.6.4", "--to", "2.8.2", "--catalog", str(catalogue)]
    assert main([*argv, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["path"] == ["2.6.4", "2.7.9", "2.8.2"]
    assert main(argv) == 1
    assert f"Catalogue: the shipped one, extended by {catalogue}" in capsys.readouterr().out


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "plan" in out
    assert "lab" in out


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


# The lab subcommand hands its arguments to dtrlab.cli.main


def test_lab_without_the_lab_module_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "dtrlab.cli", None)
    assert main(["lab", "--scenario", "healthy"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "dtr-upgrade lab: error: the lab is not available in this installation "
        "(no module dtrlab.cli)\n"
    )


def test_lab_passes_every_argument_through(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[list[str]] = []

    def lab_main(argv: list[str]) -> int:
        received.append(argv)
        return 7

    fake = types.ModuleType("dtrlab.cli")
    fake.main = lab_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dtrlab.cli", fake)
    assert main(["lab", "--help", "plan", "--from", "x"]) == 7
    assert main(["lab"]) == 7
    assert received == [["--help", "plan", "--from", "x"], []]


def test_lab_module_without_main_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "dtrlab.cli", types.ModuleType("dtrlab.cli"))
    assert main(["lab"]) == 2
    assert "has no main(argv) function" in capsys.readouterr().err
