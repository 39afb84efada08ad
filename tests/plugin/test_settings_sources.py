"""Settings through the real plugin: ini file, environment and command line, and refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dtrlab.scenarios import SCENARIOS

pytest_plugins = ["pytester"]

SECRET = "S3cr3t-Pa55word"

CHECK = '''
import pytest

@pytest.mark.preflight
@pytest.mark.check("PRE-SETTINGS")
def test_settings(settings):
    """Shows the resolved settings."""
    print(
        f"resolved probe_interval={settings.probe_interval} operator={settings.operator} "
        f"max_backup_age={settings.max_backup_age} mode={settings.mode}"
    )
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_checks=CHECK)
    return pytester.runpytest("-p", "upgrade.plugin", "--report-dir", "out", "-s", *args)


def resolved(result: pytest.RunResult) -> str:
    lines = [line for line in result.outlines if "resolved " in line]
    assert lines, result.stdout.str()
    return lines[0].split("resolved ", 1)[1]


def usage_error(result: pytest.RunResult) -> str:
    """The one line of a usage error; nothing ran and no bundle was written."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR: ")
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    return lines[0].removeprefix("ERROR: ")


INI = (
    "[pytest]\n"
    "dtr_target = dtr.example.com\n"
    "dtr_probe_interval = 0.5\n"
    "dtr_operator = ini-operator\n"
    "dtr_max_backup_age = 3h\n"
)


def test_ini_value_beats_default(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    line = resolved(run(pytester))
    assert "probe_interval=0.5 operator=ini-operator max_backup_age=3:00:00" in line


def test_environment_beats_ini(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini(INI)
    monkeypatch.setenv("DTR_UPGRADE_PROBE_INTERVAL", "0.2")
    monkeypatch.setenv("DTR_UPGRADE_OPERATOR", "env-operator")
    monkeypatch.setenv("DTR_UPGRADE_MAX_BACKUP_AGE", "2h")
    line = resolved(run(pytester))
    assert "probe_interval=0.2 operator=env-operator max_backup_age=2:00:00" in line


def test_command_line_beats_environment_and_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    monkeypatch.setenv("DTR_UPGRADE_PROBE_INTERVAL", "0.2")
    monkeypatch.setenv("DTR_UPGRADE_OPERATOR", "env-operator")
    monkeypatch.setenv("DTR_UPGRADE_MAX_BACKUP_AGE", "2h")
    line = resolved(
        run(pytester, "--probe-interval=0.3", "--operator", "cli-operator", "--max-backup-age=1h")
    )
    assert "probe_interval=0.3 operator=cli-operator max_backup_age=1:00:00" in line


def test_environment_beats_ini_for_the_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INI)
    monkeypatch.setenv("DTR_UPGRADE_TARGET", "dtr-env.example.com:8443")
    result = run(pytester)
    result.stdout.fnmatch_lines(["dtr-upgrade: target https://dtr-env.example.com:8443; *"])


@pytest.mark.parametrize(
    ("variable", "flag"), [("APPLY", "apply"), ("INSECURE_TLS", "insecure-tls")]
)
def test_command_line_only_flag_from_environment_is_refused(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, variable: str, flag: str
) -> None:
    monkeypatch.setenv(f"DTR_UPGRADE_{variable}", "1")
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4")
    assert usage_error(result) == (
        f"DTR_UPGRADE_{variable} is not honoured: --{flag} must be given on the command line"
    )
    assert not Path(pytester.path, "out").exists()


def test_apply_in_the_ini_file_does_not_apply(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndtr_apply = true\ndtr_insecure_tls = true\n")
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4")
    assert "mode=plan" in resolved(result)
    assert "TLS verification OFF" not in result.stdout.str()


@pytest.mark.parametrize(
    ("option", "address"),
    [
        ("--target", f"https://admin:{SECRET}@dtr.example.com"),
        ("--target", "admin@dtr.example.com"),
        ("--ucp-url", f"https://admin:{SECRET}@ucp.example.com:443"),
        ("--replica-url", f"0123456789ab=https://admin:{SECRET}@dtr.example.com"),
    ],
)
def test_credentials_in_an_address_never_reach_the_output(
    pytester: pytest.Pytester, option: str, address: str
) -> None:
    args = [f"{option}={address}"]
    if option != "--target":
        args.append("--target=dtr.example.com")
    message = usage_error(run(pytester, *args))
    assert message.startswith(f"{option}: a user name or password in the address")
    assert "DTR_PASSWORD or DTR_TOKEN" in message
    assert "UCP_PASSWORD" in message
    for leaked in (SECRET, "admin"):
        assert not any(leaked in line for line in run_lines(pytester))
    assert not Path(pytester.path, "out").exists()


def run_lines(pytester: pytest.Pytester) -> list[str]:
    """Every file the refused session might have left in its folder."""
    return [
        line
        for path in pytester.path.rglob("*")
        if path.is_file() and path.name != "test_checks.py"
        for line in path.read_text(errors="replace").splitlines()
    ]


def test_ipv6_target_works(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--target=https://[::1]:8443")
    assert "dtr-upgrade: target https://[::1]:8443; mode health" in result.outlines


def test_unknown_lab_scenario_is_a_usage_error(pytester: pytest.Pytester) -> None:
    message = usage_error(run(pytester, "--target=lab", "--lab-scenario=no-backup,nope"))
    assert message.startswith("--lab-scenario: unknown lab scenario(s) nope; valid: ")
    for name in SCENARIOS:
        assert name in message


@pytest.mark.parametrize(
    "option",
    [
        "--max-backup-age",
        "--max-clock-skew",
        "--upgrade-timeout",
        "--upgrade-backoff",
        "--settle-timeout",
        "--downtime-budget",
        "--migration-timeout",
        "--vuln-db-timeout",
    ],
)
def test_overflowing_duration_is_a_usage_error(pytester: pytest.Pytester, option: str) -> None:
    message = usage_error(run(pytester, "--target=dtr.example.com", f"{option}=99999999999d"))
    assert message == f"{option} '99999999999d': the longest duration accepted is 3650d"


@pytest.mark.parametrize("option", ["--dtr-ca", "--ucp-ca"])
def test_ca_file_that_is_not_a_certificate_is_a_usage_error(
    pytester: pytest.Pytester, option: str
) -> None:
    path = pytester.makefile(".pem", notacert="just some text\n")
    message = usage_error(run(pytester, "--target=dtr.example.com", f"{option}={path}"))
    assert message.startswith(f"{option} {path}: not a PEM CA bundle")


def test_report_dir_that_is_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    Path(pytester.path, "out").write_text("")
    message = usage_error(run(pytester, "--target=dtr.example.com"))
    assert message == "--report-dir out: not a directory; name a directory"


def test_read_only_report_dir_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access
    parent = pytester.path

    def access(path: os.PathLike[str] | str, mode: int) -> bool:
        return Path(path) != parent and real_access(path, mode)

    # root may write anywhere, so the refusal is shown with os.access answering as for a user
    monkeypatch.setattr(os, "access", access)
    message = usage_error(run(pytester, "--target=dtr.example.com"))
    assert message == (
        f"--report-dir out: not writable (its nearest existing parent {parent}); "
        "choose a directory you can write to"
    )
