"""A verdict only from checks that ran: selection, early stops, signals, collection errors,
collect-only, waivers, unusable report directories and bundles left by killed sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.test_plugin_core import result_json, run
from tests.support.pytester_checks import check, checks_module, make_checks
from upgrade.evidence import integrity

pytest_plugins = ["pytester"]

PLAN = ["--target=dtr.example.com", "--to-version=2.6.4"]


def outcomes(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    checks = result_json(pytester)["checks"]
    assert isinstance(checks, list)
    return {c["id"]: c for c in checks}


def last_line(result: pytest.RunResult) -> str:
    return str(result.outlines[-1])


@pytest.mark.parametrize(
    "selection",
    [["-k", "test_pre_b"], ["--deselect", "test_checks.py::test_pre_a"], ["-m", "not post"]],
    ids=["-k", "--deselect", "-m"],
)
def test_a_selection_that_removes_a_preflight_check_is_never_a_go(
    pytester: pytest.Pytester, selection: list[str]
) -> None:
    make_checks(pytester)
    pytester.makepyfile(test_more=checks_module(check("PRE-C", "test_pre_c", "Preflight C.")))
    result = run(pytester, *PLAN, *selection, "--deselect", "test_more.py::test_pre_c")
    assert last_line(result).startswith("VERDICT: INCOMPLETE - ")
    assert "deselected by -k/-m/--deselect: " in last_line(result)
    assert "PRE-C" in last_line(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "an incomplete session exited 0"
    checks = outcomes(pytester)
    assert checks["PRE-C"]["outcome"] == "deselected"
    assert checks["PRE-C"]["started_at"] is None
    data = result_json(pytester)
    assert data["verdict"] == "INCOMPLETE"
    assert "GO" not in data["verdict_reason"].split()
    html = (Path(pytester.path, "out", "latest", "report.html")).read_text()
    assert 'data-verdict="INCOMPLETE"' in html
    assert "Checks that did not run" in html
    assert "<td>PRE-C</td><td>preflight</td><td>deselected by -k/-m/--deselect</td>" in html
    junit = (Path(pytester.path, "out", "latest", "junit.xml")).read_text()
    assert 'name="test_pre_c"' in junit
    assert 'type="dtr-upgrade.deselected" message="PRE-C: deselected by -k/-m/--deselect"' in (
        junit
    )
    assert integrity.verify(Path(pytester.path, "out", "latest").resolve()).ok


def test_a_health_session_with_one_check_selected_is_not_healthy(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", "-k", "test_pre_b")
    assert last_line(result).startswith("VERDICT: INCOMPLETE - 1 check of 2 did not run")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_selection_that_runs_nothing_is_incomplete_not_unhealthy(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    result = run(pytester, "--target=dtr.example.com", "-k", "no_such_check")
    # pytest alone would exit 5 (nothing collected): the INCOMPLETE verdict exits 1 as always.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert last_line(result).startswith("VERDICT: INCOMPLETE - 2 checks of 2 did not run")


@pytest.mark.parametrize(
    "selection",
    [
        ["-m", "post"],
        ["-k", "not test_pre_a"],
        ["--deselect", "test_checks.py::test_pre_a"],
        ["--deselect", "test_checks.py::test_post_one"],
    ],
    ids=["-m post", "-k", "--deselect preflight", "--deselect post"],
)
def test_apply_with_a_selection_is_refused_before_anything_runs(
    pytester: pytest.Pytester, selection: list[str]
) -> None:
    make_checks(pytester, fail_a=True)
    result = run(pytester, *PLAN, "--apply", *selection)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --apply runs the whole procedure*run without the selection*"]
    )
    assert "passed" not in result.stdout.str().splitlines()[-1]
    assert not any(Path(pytester.path, "out").glob("2*")), "a refused session wrote a bundle"


def test_after_x_the_checks_that_never_started_are_named_and_not_counted(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester, fail_a=True)
    result = run(pytester, *PLAN, "-x")
    line = last_line(result)
    assert line.startswith("VERDICT: NO-GO - preflight failed (PRE-A)")
    assert "never started: PRE-B" in line
    checks = outcomes(pytester)
    assert checks["PRE-B"]["outcome"] == "not-run"
    assert checks["PRE-B"]["started_at"] is None
    assert checks["PRE-A"]["outcome"] == "failed"
    html = (Path(pytester.path, "out", "latest", "report.html")).read_text()
    assert "1 not-run" in html, "the banner's tally counts a check that never ran"


def test_a_session_ended_by_pytest_exit_is_interrupted_not_passed(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    pytester.makepyfile(
        test_zz=checks_module(
            check("PRE-Z", "test_pre_z", "Preflight Z.", 'pytest.exit("stopped by the test")')
        )
    )
    result = run(pytester, *PLAN)
    assert last_line(result) == (
        "VERDICT: INTERRUPTED - the session was stopped by pytest.exit (stopped by the test) "
        "during the preflight phase; nothing was changed; re-run the same command when ready."
    )
    assert outcomes(pytester)["PRE-Z"]["outcome"] == "interrupted"


def interrupting(stop: str) -> str:
    """PRE-FIRST, then PRE-STOP, which runs `stop`, then PRE-AFTER."""
    return checks_module(
        check("PRE-FIRST", "test_first", "Runs first."),
        check(
            "PRE-STOP",
            "test_stop",
            "Stops the session the way an operator or a CI system does.",
            stop,
        ),
        check("PRE-AFTER", "test_after", "Never reached."),
        preamble="import os\nimport signal",
    )


@pytest.mark.parametrize(
    ("stop", "cause"),
    [
        ("raise KeyboardInterrupt", "Ctrl-C"),
        ("os.kill(os.getpid(), signal.SIGTERM)", "SIGTERM"),
        ("os.kill(os.getpid(), signal.SIGHUP)", "SIGHUP"),
    ],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_a_stop_during_preflight_says_nothing_was_changed(
    pytester: pytest.Pytester, stop: str, cause: str
) -> None:
    pytester.makepyfile(test_stop=interrupting(stop))
    result = pytester.runpytest_subprocess("-p", "upgrade.plugin", "--report-dir", "out", *PLAN)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    line = last_line(result)
    assert line == (
        f"VERDICT: INTERRUPTED - the session was stopped by {cause} during the preflight phase; "
        "nothing was changed; re-run the same command when ready."
    )
    checks = outcomes(pytester)
    assert checks["PRE-FIRST"]["outcome"] == "passed"
    assert checks["PRE-STOP"]["outcome"] == "interrupted"
    assert checks["PRE-AFTER"]["outcome"] == "not-run"
    bundle = Path(pytester.path, "out", "latest").resolve()
    assert integrity.verify(bundle).ok, "the interrupted session's bundle does not verify"


def test_a_sigterm_whose_interruption_was_swallowed_still_interrupts(
    pytester: pytest.Pytester,
) -> None:
    # Python cannot raise a signal's exception everywhere (a __del__, a weakref callback) and
    # a library may catch it: the session then runs on, but it was told to stop.
    swallowed = (
        'exec("try:\\n os.kill(os.getpid(), signal.SIGTERM)\\nexcept KeyboardInterrupt:\\n pass")'
    )
    pytester.makepyfile(test_stop=interrupting(swallowed))
    result = pytester.runpytest_subprocess("-p", "upgrade.plugin", "--report-dir", "out", *PLAN)
    assert outcomes(pytester)["PRE-AFTER"]["outcome"] == "passed", "the stop was not swallowed"
    assert last_line(result).startswith(
        "VERDICT: INTERRUPTED - the session was stopped by SIGTERM during the preflight phase"
    ), result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_plugin_failing_on_the_interruption_cannot_hide_it(pytester: pytest.Pytester) -> None:
    # pluggy stops at the first impl that raises: ours must have run by then. pytest's own
    # capture manager and terminal reporter used to run first; one raising while the stop
    # was handled (capture suspended for a terminal line) left every check "not run" and the
    # session INCOMPLETE instead of INTERRUPTED.
    pytester.makeconftest(
        "import pytest\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_keyboard_interrupt(excinfo):\n"
        "    raise RuntimeError('a reporting plugin broke on the traceback')\n"
    )
    # Ctrl-C: no signal handler of ours saw it, only the hook can tell.
    pytester.makepyfile(test_stop=interrupting("raise KeyboardInterrupt"))
    pytester.runpytest_subprocess("-p", "upgrade.plugin", "--report-dir", "out", *PLAN)
    data = result_json(pytester)
    assert data["verdict"] == "INTERRUPTED", data["verdict_reason"]
    assert "stopped by Ctrl-C during the preflight phase" in data["verdict_reason"]


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_bundle_is_sealed_is_noted_not_raised(
    pytester: pytest.Pytester, name: str
) -> None:
    # Inside the harness's session end (its wrapper shields first): a second Ctrl-C or a CI's
    # repeated SIGTERM must neither break the sealing off nor print after the verdict.
    pytester.makeconftest(
        "import os, signal\n"
        "def pytest_sessionfinish(session):\n"
        f"    os.kill(os.getpid(), signal.{name})\n"
    )
    make_checks(pytester)
    result = pytester.runpytest_subprocess("-p", "upgrade.plugin", "--report-dir", "out", *PLAN)
    assert f"dtr-upgrade: {name} arrived while the bundle was sealed; it was ignored" in (
        result.stdout.str()
    )
    assert last_line(result).startswith("VERDICT: "), result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert integrity.verify(Path(pytester.path, "out", "latest").resolve()).ok


def test_signal_handlers_are_restored_after_the_session(pytester: pytest.Pytester) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    make_checks(pytester)
    run(pytester, *PLAN)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_collection_error_is_not_an_interrupted_upgrade(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    pytester.makepyfile(test_broken="import no_such_module_here\n")
    result = run(pytester, *PLAN)
    line = last_line(result)
    assert line.startswith("VERDICT: INCOMPLETE - checks failed to collect in test_broken.py")
    assert "resume" not in line
    assert "fix the collection error" in line
    data = result_json(pytester)
    assert data["collection_errors"][0]["nodeid"] == "test_broken.py"
    assert "no_such_module_here" in data["collection_errors"][0]["message"]


def test_apply_with_a_collection_error_is_refused(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    pytester.makepyfile(test_broken="import no_such_module_here\n")
    result = run(pytester, *PLAN, "--apply", "--continue-on-collection-errors")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*1 file(s) of checks failed to collect; fix the collection errors above, or run*"]
    )


def test_collect_only_writes_no_bundle_and_no_verdict(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    result = run(pytester, *PLAN, "--co", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert "no verdict and no bundle" in last_line(result)
    assert not any(Path(pytester.path, "out").iterdir())
    assert "VERDICT" not in result.stdout.str()


def test_a_waiver_for_an_unknown_check_is_refused(pytester: pytest.Pytester) -> None:
    make_checks(pytester)
    pytester.makefile(
        ".toml",
        waivers='[[waiver]]\ncheck = "PRE-TYPO"\nreason = "r"\napprover = "a"\n'
        'expires = "2999-01-01T00:00Z"\n',
    )
    result = run(pytester, *PLAN, "--waivers", "waivers.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*PRE-TYPO is not a check of this harness*"])
    assert "VERDICT" not in result.stdout.str() + result.stderr.str()
    assert not any(Path(pytester.path, "out").iterdir()), "a refused session left a bundle"


def test_an_expired_waiver_is_named_on_the_terminal_and_a_waived_check_is_not_passed(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester, fail_a=True)
    pytester.makefile(
        ".toml",
        waivers='[[waiver]]\ncheck = "PRE-A"\nreason = "r"\napprover = "j.doe"\n'
        'expires = "2999-01-01T00:00Z"\n'
        '[[waiver]]\ncheck = "PRE-B"\nreason = "old"\napprover = "k.roe"\n'
        'expires = "2020-01-01T00:00Z"\n',
    )
    result = run(pytester, *PLAN, "--waivers", "waivers.toml")
    result.stdout.fnmatch_lines(["*the waiver for PRE-B (approved by k.roe) expired 2020-01-01*"])
    assert last_line(result) == (
        "VERDICT: GO - 1 preflight check passed and 1 was waived (PRE-A); the upgrade may start."
    )


def test_an_unfinished_bundle_of_a_killed_session_is_named_and_sealed(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    out = Path(pytester.path, "out")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    staged = out / f".incomplete-20261201T101500123456Z-{dead.pid}"
    staged.mkdir(parents=True)
    (staged / "upgrade.log").write_text("INFO[0000] Upgrading replica 5eb9459a7832\n")
    live = out / f".incomplete-20261201T101500123456Z-{os.getpid()}"
    live.mkdir()
    result = run(pytester, *PLAN)
    unfinished = out / f"20261201T101500Z-unfinished-{dead.pid}"
    result.stdout.fnmatch_lines(
        [f"*an earlier session (pid {dead.pid}) was killed*sealed as {unfinished}*UNFINISHED*"]
    )
    assert not staged.exists()
    assert live.is_dir(), "the staged bundle of a session still running was touched"
    assert integrity.verify(unfinished).ok
    note = json.loads((unfinished / "UNFINISHED.json").read_text())
    assert note["verdict"] == "UNFINISHED"
    assert note["files"] == ["upgrade.log"]
    assert last_line(result).startswith("VERDICT: GO")


def test_a_report_dir_that_cannot_hold_a_bundle_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    make_checks(pytester)
    Path(pytester.path, "afile").write_text("not a directory")
    result = pytester.runpytest("-p", "upgrade.plugin", "--report-dir", "afile/sub", *PLAN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --report-dir afile*"])


def test_a_second_apply_session_against_the_same_dtr_is_refused_naming_the_holder(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upgrade.procedure import lock
    from upgrade.procedure.lock_holder import Holder

    monkeypatch.setenv(lock.LOCK_DIR_VARIABLE, str(tmp_path / "locks"))
    make_checks(pytester)
    holder = Holder.of_this_process(
        "https://dtr.example.com", command=["pytest", "--target=dtr.example.com", "--apply"]
    )
    with lock.acquire("https://dtr.example.com", holder):
        result = run(pytester, *PLAN, "--apply")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(
            [
                "ERROR: another session holds the upgrade lock of https://dtr.example.com: "
                f"*pid {os.getpid()}*wait for it to finish or stop it"
            ]
        )
        assert not Path(pytester.path, "out").exists(), "a refused session wrote a bundle"
        # A read-only session is never blocked by an upgrade in progress elsewhere.
        assert run(pytester, *PLAN).ret == pytest.ExitCode.OK
    # Released when the holder ends: the next --apply session takes it.
    result = run(pytester, *PLAN, "--apply")
    assert "another session holds" not in result.stderr.str()
    assert last_line(result).startswith("VERDICT: ")
    with lock.acquire("https://dtr.example.com", holder):
        pass  # the session released it at its end


FILLS_THE_DISK = '''
import os
import pytest

from tests.support.disks import fill


@pytest.mark.preflight
@pytest.mark.check("PRE-FILL")
def test_fill(evidence):
    """Fills the report directory's disk, as a log or another job can."""
    evidence.attach("big", "x" * 300_000)
    fill(__import__("pathlib").Path(os.environ["REPORT_DISK"]))
'''


def test_a_disk_that_fills_during_the_session_names_each_lost_file_and_keeps_the_verdict(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.disks import tmpfs

    with tmpfs(tmp_path / "disk", "2m") as disk:
        monkeypatch.setenv("REPORT_DISK", str(disk))
        monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
        pytester.makepyfile(test_fill=FILLS_THE_DISK)
        result = pytester.runpytest_subprocess(
            "-p", "upgrade.plugin", "--report-dir", str(disk / "reports"), *PLAN
        )
        output = result.stdout.str() + result.stderr.str()
        assert "Traceback" not in output
        assert "INTERNALERROR" not in output
        assert result.ret == pytest.ExitCode.TESTS_FAILED, "incomplete evidence exited 0"
        assert last_line(result).startswith("VERDICT: GO - ")
        assert last_line(result).endswith(
            "but the evidence bundle is incomplete (5 problems above)."
        )
        lost = [line for line in result.outlines if "the bundle is incomplete" in line]
        assert any("report.html" in line for line in lost), lost
        assert any("result.json: No space left on device" in line for line in lost), lost
        bundle = next((disk / "reports").glob("2*"))
        assert (bundle / "junit.xml").is_file() or any("junit.xml" in line for line in lost)


def test_the_lock_knows_one_dtr_under_two_names(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upgrade.procedure import lock
    from upgrade.procedure.lock_holder import Holder

    monkeypatch.setenv(lock.LOCK_DIR_VARIABLE, str(tmp_path / "locks"))
    make_checks(pytester)
    holder = Holder.of_this_process("https://127.0.0.1:9", command=["pytest"])
    with lock.acquire_all("https://127.0.0.1:9", holder):
        result = run(pytester, "--target=localhost:9", "--to-version=2.6.4", "--apply")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: another session holds the upgrade lock of *127.0.0.1:9*"])
