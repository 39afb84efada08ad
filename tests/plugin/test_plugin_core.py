"""Plugin behaviour through pytester: ordering, the gate, waivers, refusals, header, verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.pytester_checks import make_checks

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "upgrade.plugin", "--report-dir", "out", *args)


def result_json(pytester: pytest.Pytester) -> dict[str, object]:
    latest = Path(pytester.path, "out", "latest")
    assert latest.is_symlink(), "the bundle's latest pointer is missing"
    data = json.loads((latest / "result.json").read_text())
    assert isinstance(data, dict)
    return data


def test_checks_without_target_are_refused(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = pytester.runpytest("-p", "upgrade.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pass --target=HOST*--target=lab*"])


def test_plain_tests_unaffected_without_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "upgrade.plugin")
    result.assert_outcomes(passed=1)


def test_health_mode_runs_only_preflight_and_says_healthy(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", "-v")
    result.assert_outcomes(passed=2, deselected=2)
    assert result.outlines[-1].startswith("VERDICT: HEALTHY")
    data = result_json(pytester)
    assert data["verdict"] == "HEALTHY"
    assert data["mode"] == "health"
    checks = data["checks"]
    assert isinstance(checks, list)
    assert [c["id"] for c in checks] == ["PRE-A", "PRE-B"]
    assert checks[0]["evidence"] == {"seen": {"a": 1}}
    assert checks[0]["description"] == "Preflight A."


def test_unhealthy_names_the_failed_check(pytester: pytest.Pytester) -> None:
    make_checks(pytester, fail_a=True)
    result = run(pytester, "--target=dtr.example.com")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.outlines[-1].startswith("VERDICT: UNHEALTHY - 1 check(s) failed: PRE-A")
    check = result_json(pytester)["checks"][0]  # type: ignore[index]
    assert check["outcome"] == "failed"
    assert check["message"] == "A failed because the lab said so"


def test_plan_mode_go_and_no_go(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4")
    assert result.outlines[-1].startswith("VERDICT: GO")
    make_checks(pytester, fail_a=True)
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4")
    assert result.outlines[-1].startswith("VERDICT: NO-GO - preflight failed (PRE-A)")


def test_phase_order_and_gate(pytester: pytest.Pytester) -> None:
    make_checks(pytester, fail_a=True)
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4", "--apply", "-v", "-rs")
    lines = [line for line in result.outlines if "::test_" in line]
    order = [line.split("::")[1].split()[0] for line in lines]
    assert order[:4] == ["test_pre_a", "test_pre_b", "test_upgrade_runs", "test_post_one"]
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*gate closed: preflight failed (PRE-A)*"])
    assert result.outlines[-1].startswith("VERDICT: NO-GO")


def test_waiver_turns_failure_into_waived_and_go(pytester: pytest.Pytester) -> None:
    make_checks(pytester, fail_a=True)
    pytester.makefile(
        ".toml",
        waivers='[[waiver]]\ncheck = "PRE-A"\nreason = "known, CHG-1"\n'
        'approver = "j.doe"\nexpires = "2999-01-01T00:00Z"\n',
    )
    result = run(
        pytester,
        "--target=dtr.example.com",
        "--to-version=2.6.4",
        "--waivers",
        "waivers.toml",
        "-rx",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*waived PRE-A by j.doe*known, CHG-1*"])
    assert result.outlines[-1].startswith("VERDICT: GO")
    check = result_json(pytester)["checks"][0]  # type: ignore[index]
    assert check["outcome"] == "waived"
    assert check["waiver"]["approver"] == "j.doe"


def test_expired_waiver_is_ignored_and_reported(pytester: pytest.Pytester) -> None:
    make_checks(pytester, fail_a=True)
    pytester.makefile(
        ".yaml",
        waivers="- check: PRE-A\n  reason: old\n  approver: j.doe\n  expires: 2001-01-01\n",
    )
    result = run(
        pytester, "--target=dtr.example.com", "--to-version=2.6.4", "--waivers", "waivers.yaml"
    )
    assert result.outlines[-1].startswith("VERDICT: NO-GO")
    assert result_json(pytester)["waivers_expired"][0]["check"] == "PRE-A"  # type: ignore[index]


def test_version_path_waiver_refused(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    pytester.makefile(
        ".toml",
        waivers='[[waiver]]\ncheck = "PRE-VERSION-PATH"\nreason = "x"\napprover = "y"\n'
        'expires = "2999-01-01"\n',
    )
    result = run(pytester, "--target=dtr.example.com", "--waivers", "waivers.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*PRE-VERSION-PATH cannot be waived*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--apply"], "*--apply needs --to-version*"),
        (["--to-version=2.6"], "*--to-version: malformed version '2.6'*"),
        (
            ["--to-version=2.6.4", "--apply", "--phase=post"],
            "*cannot be combined with --phase=post*",
        ),
        (["--phase=sideways"], "*--phase 'sideways': expected one of all, preflight, post*"),
        (["--max-backup-age=soon"], "*--max-backup-age 'soon': expected a duration*"),
        (["--window=2026-01-01T00:00Z"], "*--window*expected START/END*"),
        (["--dtr-ca=/nonexistent/ca.pem"], "*--dtr-ca /nonexistent/ca.pem: no such file*"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_target_url_forms(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=http://dtr.example.com")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*only reached over https*"])


def test_header_shows_resolved_target(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com:8443", "--to-version=2.6.4", "--insecure-tls")
    result.stdout.fnmatch_lines(
        [
            "dtr-upgrade: target https://dtr.example.com:8443; mode plan; to 2.6.4; "
            "TLS verification OFF (--insecure-tls)"
        ]
    )


def test_ini_and_environment_twins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_checks(pytester)
    pytester.makeini("[pytest]\ndtr_target = dtr.ini.example\n")
    result = run(pytester)
    result.stdout.fnmatch_lines(["dtr-upgrade: target https://dtr.ini.example; mode health"])
    monkeypatch.setenv("DTR_UPGRADE_TO_VERSION", "2.6.4")
    result = run(pytester)
    result.stdout.fnmatch_lines(["*mode plan; to 2.6.4"])


def test_check_without_phase_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('import pytest\n\n@pytest.mark.check("X")\ndef test_x():\n    pass\n')
    result = run(pytester, "--target=dtr.example.com")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: needs exactly one phase marker*"])


def test_interrupted_session_still_writes_bundle(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        'import pytest\n\n@pytest.mark.preflight\n@pytest.mark.check("PRE-K")\n'
        "def test_k():\n    raise KeyboardInterrupt\n"
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "upgrade.plugin",
        "--report-dir",
        "out",
        "--target=dtr.example.com",
        "--to-version=2.6.4",
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert result.outlines[-1].startswith("VERDICT: INTERRUPTED")
    assert result_json(pytester)["verdict"] == "INTERRUPTED"


@pytest.mark.parametrize("apply", [["--apply"], []], ids=["apply", "read-only"])
def test_xdist_is_refused_with_or_without_apply(
    pytester: pytest.Pytester, apply: list[str]
) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", "--to-version=2.6.4", *apply, "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cannot run under pytest-xdist (-n/--dist)*drop -n/--dist"])
    assert not Path(pytester.path, "out").exists(), "a refused session wrote a bundle"


def test_a_path_option_given_apart_is_refused_naming_the_form_that_works(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # pytest took an existing folder outside the current one for a folder of tests (another
    # rootdir, the harness's own suite collected) before it knew --report-dir takes a value.
    elsewhere = tmp_path_factory.mktemp("reports-elsewhere")
    result = pytester.runpytest_subprocess(
        "-p", "upgrade.plugin", "--target=dtr.example.com", "--report-dir", str(elsewhere)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--report-dir {elsewhere}: write --report-dir={elsewhere}*"])
    assert not any(elsewhere.iterdir()), "a bundle was written"
    # The = form, and a folder inside the current one, are fine.
    inside = pytester.mkdir("reports")
    make_checks_here = pytester.runpytest_subprocess(
        "-p", "upgrade.plugin", "--target=dtr.example.com", "--report-dir", str(inside), "--co"
    )
    assert make_checks_here.ret != pytest.ExitCode.USAGE_ERROR
