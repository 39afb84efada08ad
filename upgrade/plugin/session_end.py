"""The end of a session, in one written order: the verdict before the reports are written, the
bundle sealed after them, the VERDICT line last.

`SessionEnd.pytest_sessionfinish` is the plugin's one hook that depends on the order of several
steps; `before_reports` and `after_reports` list them. Between the two, pytest-html and junitxml
write their files into the bundle and the terminal reporter writes its summary. A session that
was refused or only listed its checks (--collect-only) gets no verdict and its bundle is removed.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import pytest

from upgrade.evidence.bundle import JUNIT_NAME, add_unrun_to_junit, seal, unwritten
from upgrade.evidence.files import write_json
from upgrade.evidence.records import utc_now
from upgrade.plugin.terminal_lines import write_verdict
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from upgrade.plugin.harness import Harness

# A step before the reports are written (the report's comparison and environment table).
SessionStep = Callable[[pytest.Session], None]


class SessionEnd:
    """The `pytest_sessionfinish` of one session; `report_steps` run after the verdict."""

    def __init__(self, harness: Harness, report_steps: Sequence[SessionStep] = ()) -> None:
        self.harness = harness
        self.report_steps = tuple(report_steps)

    # tryfirst: the outermost wrapper, around the terminal reporter's (it writes its summary
    # after pytest-html and junitxml have written), so the verdict is decided before those
    # write, the bundle is sealed after, and VERDICT is the terminal's last line.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None]:
        """`before_reports`, then the other plugins (the reports are written), then
        `after_reports`. A write failure of a report plugin (a full disk) is recorded by the
        report plugin, never allowed to lose the rest of the bundle."""
        judged = not (self.harness.refused or self.harness.collect_only)
        self.before_reports(session, judged)
        try:
            return (yield)
        finally:
            if judged:
                self.after_reports(session)
            else:
                self.discard_bundle()

    def before_reports(self, session: pytest.Session, judged: bool) -> None:
        """In this order: no further signal breaks the end off and the prober stops (what it
        measured belongs in result.json, also when the session was stopped); the verdict (the
        report shows it); then the report's own steps."""
        self.keep_measurements()
        if judged:
            self.decide_verdict(session)
        for step in self.report_steps:
            step(session)

    def after_reports(self, session: pytest.Session) -> None:
        """In this order: the bundle's last files, its seal and final name, the copies the user
        asked for; the target closed whatever happened; then the exit status and the closing
        lines, VERDICT last."""
        try:
            self.write_result()
            self.seal_bundle()
            self.finalise_bundle()
            self.copy_asked_files()
        finally:
            self.harness.close_target()
        self.fail_on_bundle_problems(session)
        write_verdict(self.harness)

    def keep_measurements(self) -> None:
        """Shield the end from further signals; keep the prober's measurements and UCP's URL."""
        harness = self.harness
        harness.signals.shield()
        harness.stop_prober()
        if harness.connected_target is not None:
            harness.session_record.ucp_url = harness.connected_target.known_ucp_url

    def decide_verdict(self, session: pytest.Session) -> None:
        """A check that started but never finished was interrupted; then the verdict, and a
        failed exit status for any session that is not good."""
        harness = self.harness
        for record in harness.records.values():
            if record.outcome == "not-run" and record.started_at is not None:
                record.outcome = "interrupted"
                record.message = "the session stopped while this check ran"
        harness.final = decide(harness)
        if not harness.final.good and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            # An incomplete session is never a success, whatever pytest counted; a selection
            # that left nothing to run (pytest's 5) is INCOMPLETE like any other, so exit 1,
            # and a stop pytest never saw (swallowed) exits as pytest's own stops do.
            session.exitstatus = (
                pytest.ExitCode.INTERRUPTED
                if harness.final.word == "INTERRUPTED"
                else pytest.ExitCode.TESTS_FAILED
            )

    def write_result(self) -> None:
        """The verdict into the record, the files the reports did not write named, the checks
        that did not run added to the JUnit file, then result.json."""
        harness = self.harness
        record = harness.session_record
        assert harness.final is not None
        record.verdict = harness.final.word
        record.verdict_reason = harness.final.reason
        record.finished_at = utc_now()
        lost = unwritten(harness.bundle.path, html=harness.config.pluginmanager.hasplugin("html"))
        if lost:
            # The files are named now: the report plugins' unnamed write errors say no more.
            record.bundle_problems[:] = [
                p for p in record.bundle_problems if not p.startswith("a report file")
            ]
        record.bundle_problems.extend(lost)
        try:
            add_unrun_to_junit(harness.bundle.file(JUNIT_NAME), record.checks)
        except (OSError, ElementTree.ParseError) as exc:
            record.bundle_problems.append(f"{JUNIT_NAME}: checks that did not run not added: {exc}")
        try:
            write_json(harness.bundle.file("result.json"), record.as_dict())
        except OSError as exc:
            harness.bundle_problem(exc)

    def seal_bundle(self) -> None:
        """The redaction pass, SHA256SUMS and the optional signature."""
        harness = self.harness
        try:
            warnings = seal(
                harness.bundle.path, harness.redaction_steps(), harness.settings.sign_key
            )
        except OSError as exc:
            harness.bundle_problem(exc)
        else:
            for warning in warnings:
                harness.say(f"dtr-upgrade: {warning}")

    def finalise_bundle(self) -> None:
        """The staging folder renamed to its final name."""
        harness = self.harness
        record = harness.session_record
        try:
            harness.bundle.finalise(record.from_version, record.to_version)
        except OSError as exc:
            # Left staged: the next session names and seals it as unfinished.
            harness.bundle_problem(exc)

    def copy_asked_files(self) -> None:
        """The report and JUnit file also where --html and --junitxml said."""
        harness = self.harness
        for name, destination in harness.copies.items():
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(harness.bundle.file(name), destination)
            except OSError as exc:
                harness.session_record.bundle_problems.append(
                    f"{name} was not copied to {destination}: {exc.strerror or exc}"
                )

    def fail_on_bundle_problems(self, session: pytest.Session) -> None:
        """The change may be fine, but its evidence is not whole: a CI job must notice."""
        if self.harness.session_record.bundle_problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def discard_bundle(self) -> None:
        """A refused or --collect-only session: close the target, remove the bundle."""
        harness = self.harness
        harness.close_target()
        harness.bundle.discard()
        if harness.collect_only:
            harness.config.get_terminal_writer().line(
                "dtr-upgrade: --collect-only lists the checks; nothing was checked, so there is "
                "no verdict and no bundle."
            )


def decide(harness: Harness) -> verdicts.Verdict:
    """The session's verdict from what has been recorded so far."""
    # A SIGTERM or SIGHUP that arrived is a stop even when the KeyboardInterrupt it raised
    # never reached pytest (swallowed where Python cannot raise it: a finalizer, a callback):
    # the session was told to stop, so its checks cannot stand as a complete run.
    interrupted = harness.interrupted or harness.signals.cause is not None
    stopped = interrupted or harness.upgrade_state == "interrupted"
    return verdicts.decide(
        harness.settings.mode,
        harness.outcomes(),
        harness.upgrade_state,
        interrupted=interrupted,
        stop=_stop(harness) if stopped else None,
        upgrade_message=harness.upgrade_message,
        collection_errors=[e["nodeid"] for e in harness.collect_errors],
    )


def _stop(harness: Harness) -> verdicts.Stop:
    """How the session was stopped: the cause, the phase, whether a bootstrapper started."""
    # Once the upgrade procedure started, the cluster may have changed: only a session that
    # never reached it may say that nothing was changed.
    changed = harness.upgrade_runner is not None
    verify = ""
    if harness.upgrade_state == "passed" and harness.bundle.file("baseline.json").exists():
        record = harness.session_record
        final = harness.bundle.final_path(record.from_version, record.to_version)
        verify = shlex.join(
            [
                "pytest",
                *_without(
                    harness.config.invocation_params.args, "--apply", "--phase", "--baseline"
                ),
                "--phase=post",
                f"--baseline={(final / 'baseline.json').resolve()}",
            ]
        )
    return verdicts.Stop(
        cause=harness.signals.cause or "Ctrl-C",
        phase=harness.current_phase,
        changed=changed,
        verify_command=verify,
    )


def _without(args: Sequence[str], *options: str) -> list[str]:
    """The command line without `options` (in `--opt=value` and `--opt value` forms)."""
    kept: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip_value = "=" not in arg and name != "--apply"
            continue
        kept.append(arg)
    return kept
