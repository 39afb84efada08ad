"""The run state of one harness session and the hooks that keep it: the check records made from
the final item list, the gate, each check's outcome, and the verdict at the end.

`Harness` is registered as a plugin object at configure (when a target is given) and is the
one writer of the session's state; fixtures and the report read it through `harness_key`.
"""

from __future__ import annotations

import inspect
import os
import shlex
import shutil
from collections.abc import Callable, Generator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import pytest

from upgrade.cluster.site import Site, site_for
from upgrade.config.settings import Settings
from upgrade.config.waivers import Waivers
from upgrade.errors import HarnessError
from upgrade.evidence import integrity
from upgrade.evidence.bundle import JUNIT_NAME, Bundle, add_unrun_to_junit, seal, unwritten
from upgrade.evidence.files import write_json
from upgrade.evidence.records import CheckRecord, SessionRecord, utc_now
from upgrade.plugin.check_catalogue import KnownCheck, known_checks
from upgrade.plugin.signals import SignalGuard
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from upgrade.cluster.nodes import NodeFacts
    from upgrade.cluster.target import Target
    from upgrade.procedure.lock import HeldLocks
    from upgrade.procedure.procedure import UpgradeRecord
    from upgrade.procedure.session import SessionUpgrade
    from upgrade.rules.catalog import Catalog
    from upgrade.rules.planner import Plan
    from upgrade.rules.versions import Version

PHASES = ("preflight", "upgrade", "post")
# A check of a change, not of health: not part of a session without --to-version.
TARGET_VERSION_MARKER = "needs_target_version"

harness_key = pytest.StashKey["Harness"]()
record_key = pytest.StashKey[CheckRecord]()


def phase_of(item: pytest.Item) -> str | None:
    phases = [p for p in PHASES if item.get_closest_marker(p) is not None]
    return phases[0] if len(phases) == 1 else (None if not phases else "ambiguous")


def _check_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args or not isinstance(marker.args[0], str):
        return None
    return marker.args[0]


def _description(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    doc = inspect.getdoc(function) if function is not None else None
    return (doc or "").strip()


class Harness:
    """Run state of one harness session: records, the gate, the upgrade state, the verdict."""

    def __init__(
        self, config: pytest.Config, settings: Settings, waivers: Waivers, now: datetime
    ) -> None:
        self.config = config
        self.settings = settings
        self.waivers = waivers
        target = settings.target or ""
        self.session_record = SessionRecord(
            target=target,
            mode=settings.mode,
            to_version=str(settings.to_version) if settings.to_version else None,
            started_at=now,
            settings=settings.public(),
            waivers_expired=[w.as_dict() for w in waivers.expired],
        )
        self.bundle = Bundle(settings.report_dir, now, target)
        self.records: dict[str, CheckRecord] = {}
        self.upgrade_state: verdicts.UpgradeState = "not-run"
        self.upgrade_message = ""
        self.interrupted = False
        self.final: verdicts.Verdict | None = None
        self.header_lines: list[str] = []
        self._target: Target | None = None
        self._target_error: HarnessError | None = None
        self.site: Site = site_for(settings)
        self._catalog: Catalog | None = None
        self._node_facts: dict[str, NodeFacts] = {}
        self.upgrade_runner: SessionUpgrade | None = None
        self.signals = SignalGuard()
        self.current_phase: str | None = None
        self.collect_only = bool(config.option.collectonly)
        # Items this mode does not run (another phase): not part of the session at all.
        self._outside: set[str] = set()
        self._outside_ids: set[str] = set()
        self._deselected: list[pytest.Item] = []
        self.collect_errors: list[dict[str, str]] = []
        self.upgrade_lock: HeldLocks | None = None
        # Bundle files the user also asked for elsewhere (--html, --junitxml): name -> path.
        self.copies: dict[str, Path] = {}
        # Checks that raised something other than an assertion or the harness's own errors.
        self.harness_bugs: list[str] = []
        self.refused = False

    # -- the target ---------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The release catalogue: the shipped one, extended by --catalog."""
        from upgrade.rules.catalog import CatalogError
        from upgrade.rules.catalog_file import load_catalog

        if self._catalog is None:
            try:
                self._catalog = load_catalog(self.settings.catalog)
            except CatalogError as exc:
                raise HarnessError(str(exc)) from None
        return self._catalog

    @property
    def connected_target(self) -> Target | None:
        """The target if this session has connected to it (never connects)."""
        return self._target

    def target(self) -> Target:
        """The session's target, connected on first use (the lab is started here)."""
        if self._target is not None:
            return self._target
        if self._target_error is not None:
            raise self._target_error
        try:
            self._target = self._connect()
        except HarnessError as exc:
            self._target_error = exc
            raise
        return self._target

    def _connect(self) -> Target:
        return self.site.connect()

    # -- the upgrade --------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Write a progress line to the terminal now, even while output is captured; an output
        error (broken pipe, full disk, closed stream) drops the line, it never raises."""
        capman = self.config.pluginmanager.getplugin("capturemanager")
        writer = self.config.get_terminal_writer()
        if writer.width_of_current_line:
            text = "\n" + text
        try:
            if capman is None:
                writer.line(text)
                return
            with capman.global_and_fixture_disabled():
                writer.line(text)
        except (OSError, ValueError):
            return  # the terminal guard (upgrade.terminal) records the failure

    def plan(self, current: Version) -> Plan:
        """The plan from `current` to --to-version; the session record keeps its bootstrapper
        image for the report."""
        from upgrade.rules.planner import plan

        assert self.settings.to_version is not None
        planned = plan(current, self.settings.to_version, self.catalog())
        self.session_record.planned_image = planned.image
        return planned

    def run_upgrade(self, current: Version) -> UpgradeRecord:
        """Run the planned upgrade with the bootstrapper; record it and return the record."""
        assert self.settings.to_version is not None
        closed = self.gate_problem()
        if closed is not None:
            # The gate is also checked here, where the upgrade starts, so nothing that requests
            # the upgrade fixture can start it past a closed gate.
            raise HarnessError(f"the upgrade was refused: {closed}")
        planned = self.plan(current)
        path = planned.path
        if len(path) < 2:
            raise HarnessError(
                f"no upgrade path from {current} to {self.settings.to_version}: "
                f"{planned.evaluation.reason}"
            )
        if len(path) > 2 and not self.settings.allow_multi_hop:
            raise HarnessError(
                "the plan has several hops (" + " -> ".join(map(str, path)) + "); pass "
                "--allow-multi-hop to run them in one session"
            )
        from upgrade.procedure.session import SessionUpgrade, UpgradeSetup
        from upgrade.terminal import installed_guard

        guard = installed_guard(self.config.pluginmanager)
        setup = UpgradeSetup(
            settings=self.settings,
            target=self.target(),
            catalog=self.catalog(),
            log_path=self.bundle.file("upgrade.log"),
            say=self.say,
            site=self.site,
            terminal_failure=(lambda: guard.failure) if guard is not None else lambda: None,
        )
        runner = SessionUpgrade(setup, planned)
        self.upgrade_runner = runner
        try:
            record = runner.run()
        except KeyboardInterrupt:
            self.upgrade_state = "interrupted"
            self.upgrade_message = runner.current.message
            raise
        finally:
            self.session_record.upgrade = runner.current
            self.session_record.engine = runner.engine
            # Lines lost from upgrade.log are lost evidence (a lost terminal is not).
            self.session_record.bundle_problems.extend(
                f"{Path(p.output).name}: {p.error}; {p.lost} line(s) lost"
                for p in runner.current.output_problems
                if p.output != "stdout"
            )
        self.upgrade_state = record.state
        self.upgrade_message = record.message
        return record

    def redaction_steps(self) -> list[Callable[[str], str]]:
        """Every redaction step for what the bundle holds: the target's redactor first (it
        knows tokens learnt at run time; never connects), then the environment's secrets."""
        steps: list[Callable[[str], str]] = []
        if self._target is not None:
            steps.append(self._target.redactor.redact)
        steps.append(integrity.environment_redactor(os.environ).redact)
        return steps

    def stop_prober(self) -> None:
        """Stop availability sampling (idempotent) and keep what it measured."""
        if self.upgrade_runner is None:
            return
        availability = self.upgrade_runner.stop_prober()
        if availability is not None:
            self.session_record.availability = availability

    def close_target(self) -> None:
        """Stop the prober, close the clients and the site (its executors, the lab)."""
        if self.upgrade_runner is not None:
            self.stop_prober()
            self.upgrade_runner.close()
        if self._target is not None:
            self._target.close()
        self.site.close()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize checks over replicas (`replica=5eb9459a7832`) and nodes (`host=SPEC`)."""
        if "node_spec" in metafunc.fixturenames:
            hosts = list(self.settings.hosts) or [""]
            metafunc.parametrize(
                "node_spec", hosts, ids=[f"host={h}" if h else "no-hosts" for h in hosts]
            )
        if "replica" not in metafunc.fixturenames:
            return
        try:
            ids = sorted(self.target().replica_urls())
        except HarnessError:
            ids = ["unknown"]  # the check then fails with the connection's one-line error
        metafunc.parametrize("replica", ids, ids=[f"replica={rid}" for rid in ids])

    def node_facts(self, spec: str) -> NodeFacts:
        """The facts of one --hosts node, read once per session."""
        from upgrade.cluster.nodes import gather

        if spec not in self._node_facts:
            self._node_facts[spec] = gather(spec)
        return self._node_facts[spec]

    # -- collection ---------------------------------------------------------------------------

    def _wanted(self, item: pytest.Item) -> bool:
        """Whether this session runs `item`: a check of a phase this mode runs, and one marked
        `needs_target_version` only when --to-version says what the change is."""
        needs = item.get_closest_marker(TARGET_VERSION_MARKER) is not None
        return self._wanted_check(phase_of(item) or "", needs)

    def _wanted_check(self, phase: str, needs_target_version: bool) -> bool:
        """`_wanted` for a check known by its phase and whether it needs --to-version."""
        if self.settings.to_version is None and needs_target_version:
            return False
        mode = self.settings.mode
        if self.settings.phase == "preflight" or mode in ("health", "plan"):
            return phase == "preflight"
        if mode == "verify":
            return phase == "post"
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Validate every check's phase and ID and the waivers, drop the phases this mode does
        not run, sort by phase. Records are made later, from the final item list."""
        problems = []
        for item in items:
            phase = phase_of(item)
            if phase is None or phase == "ambiguous":
                problems.append(
                    f"{item.nodeid}: needs exactly one phase marker ({', '.join(PHASES)})"
                )
            elif _check_id(item) is None:
                problems.append(f"{item.nodeid}: needs a check ID (@pytest.mark.check('PRE-...'))")
        if problems:
            raise pytest.UsageError("checks without phase or ID:\n  " + "\n  ".join(problems))
        known = {_check_id(item) for item in items}
        unknown = sorted(
            {w.check for w in (*self.waivers.active.values(), *self.waivers.expired)} - known
        )
        if unknown and not self.collect_errors:
            raise pytest.UsageError(
                f"--waivers {self.settings.waivers}: {', '.join(unknown)} "
                f"{'is not a check' if len(unknown) == 1 else 'are not checks'} of this "
                "harness; correct the check ID (see the report's Check ID column)"
            )
        keep = [item for item in items if self._wanted(item)]
        dropped = [item for item in items if item not in keep]
        if dropped:
            self._outside.update(item.nodeid for item in dropped)
            self._outside_ids.update(_check_id(item) or "" for item in dropped)
            config.hook.pytest_deselected(items=dropped)
        keep.sort(key=lambda item: PHASES.index(phase_of(item) or "post"))
        items[:] = keep

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        """Remember checks a selection (-k, -m, --deselect) removed: they count as not run."""
        self._deselected.extend(i for i in items if i.nodeid not in self._outside)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file of checks that failed to collect: its checks are missing from the verdict."""
        if report.failed:
            text = str(report.longrepr or "").strip().splitlines()
            self.collect_errors.append(
                {"nodeid": report.nodeid, "message": text[-1] if text else "collection failed"}
            )
            self.session_record.collection_errors = self.collect_errors

    def _record(self, item: pytest.Item, outcome: str) -> CheckRecord:
        record = CheckRecord(
            nodeid=item.nodeid,
            check_id=_check_id(item) or "",
            phase=phase_of(item) or "",
            description=_description(item),
            outcome=outcome,
        )
        if outcome == "deselected":
            record.message = "deselected by -k/-m/--deselect: this check did not run"
        self.records[item.nodeid] = record
        self.session_record.checks.append(record)
        return record

    def _uncollected(self, session: pytest.Session, seen: set[str]) -> list[KnownCheck]:
        """Shipped checks pytest never collected (a path argument, --ignore, -o): not seen
        among the collected or deselected items."""
        config = session.config
        folders = {config.rootpath / p for p in config.getini("testpaths")} or {
            config.rootpath / "checks"
        }
        known = [
            check
            for folder in sorted(folders)
            if folder.is_dir()
            for check in known_checks(folder, config.rootpath)
        ]
        return [c for c in known if c.check_id not in seen]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Make every check's record from the final item list (each starts as not run), and
        one for every check a selection removed or collection left out; refuse --apply when
        any check is missing."""
        checks = [item for item in session.items if phase_of(item) in PHASES]
        deselected = [i for i in self._deselected if phase_of(i) in PHASES]
        seen = {_check_id(i) or "" for i in (*checks, *deselected)} | self._outside_ids
        uncollected = self._uncollected(session, seen)
        if self.settings.apply and (deselected or uncollected or self.collect_errors):
            self.refused = True
            if deselected or uncollected:
                removed = verdicts.ids_text(
                    [verdicts.Outcome(_check_id(i) or i.nodeid, "", "") for i in deselected]
                    + [verdicts.Outcome(c.check_id, "", "") for c in uncollected]
                )
                why = (
                    f"the selection (-k/-m/--deselect, a path argument, --ignore, -o) removed "
                    f"{len(deselected) + len(uncollected)} check(s) ({removed})"
                )
                fix = "run without the selection"
            else:
                why = f"{len(self.collect_errors)} file(s) of checks failed to collect"
                fix = "fix the collection errors above"
            raise pytest.UsageError(
                f"--apply runs the whole procedure and only after every preflight check ran: "
                f"{why}; {fix}, or run without --apply for a read-only look"
            )
        for item in checks:
            item.stash[record_key] = self._record(item, "not-run")
        for item in deselected:
            self._record(item, "deselected")
        for check in uncollected:
            if not self._wanted_check(check.phase, check.needs_target_version):
                continue
            record = CheckRecord(
                nodeid=check.nodeid,
                check_id=check.check_id,
                phase=check.phase,
                description="",
                outcome="not-collected",
                message=(
                    "not collected: a path argument, --ignore or an ini override left this "
                    "check out, so it did not run"
                ),
            )
            self.records[check.nodeid] = record
            self.session_record.checks.append(record)

    # -- the gate -----------------------------------------------------------------------------

    def outcomes(self) -> list[verdicts.Outcome]:
        """Every recorded check outcome, for the gate and the verdict."""
        return [
            verdicts.Outcome(r.check_id, r.phase, r.outcome, r.message)
            for r in self.records.values()
        ]

    def gate_problem(self) -> str | None:
        """Why the gate is closed (a preflight check failed, errored or did not run), or None
        when every preflight check ran and passed, was waived or does not apply."""
        outcomes = self.outcomes()
        failed = sorted({o.check_id for o in verdicts.blocking(outcomes, "preflight")})
        if failed:
            return f"gate closed: preflight failed ({', '.join(failed)}); nothing was changed"
        absent = [o for o in outcomes if o.phase == "preflight" and o.outcome in verdicts.NOT_RUN]
        if absent:
            return f"gate closed: {verdicts.describe_missing(absent)}; nothing was changed"
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Close the gate: no upgrade or post check runs after a failed preflight."""
        record = item.stash.get(record_key, None)
        if record is None:
            return
        record.started_at = utc_now()
        self.current_phase = record.phase
        self.session_record.phase_started(record.phase, record.started_at)
        if record.phase == "preflight" or self.settings.mode == "verify":
            return
        closed = self.gate_problem()
        if closed:
            pytest.skip(closed)
        if record.phase == "post" and self.upgrade_state in ("failed", "interrupted"):
            pytest.skip(f"the upgrade {self.upgrade_state}: {self.upgrade_message}")

    # -- outcomes -----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Record each check's outcome; turn waived failures into waived; keep errors one line."""
        report = yield
        record = item.stash.get(record_key, None)
        if record is None:
            return report
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, HarnessError):
            report.longrepr = f"{record.check_id}: {exc}"
        elif report.failed and exc is not None:
            self._operator_sized(record, report, exc)
        if call.when == "call":
            record.duration_s = report.duration
        if report.failed:
            waiver = self.waivers.get(record.check_id) if call.when == "call" else None
            if record.outcome not in verdicts.BLOCKING:
                record.message = _failure_message(exc, report)
            if waiver is not None:
                record.outcome = "waived"
                record.waiver = waiver.as_dict()
                report.outcome = "skipped"
                report.wasxfail = f"{waiver.describe()} (failure: {record.message})"
            elif record.outcome not in verdicts.BLOCKING:
                record.outcome = "failed" if call.when == "call" else "error"
        elif report.skipped:
            if record.outcome == "not-run":
                record.outcome = "skipped"
                record.message = _skip_reason(report)
        elif call.when == "call" and record.outcome == "not-run":
            record.outcome = "passed"
        if call.when == "teardown":
            self.session_record.phase_finished(record.phase, utc_now())
        return report

    def _operator_sized(
        self, record: CheckRecord, report: pytest.TestReport, exc: BaseException
    ) -> None:
        """A failed check is one line on the terminal (its ID and the message that names the
        fix), its detail in the report; an exception that is no finding about the DTR is a
        harness bug and keeps its traceback. --tb=... or --debug keep pytest's own output."""
        if isinstance(exc, AssertionError):
            if self.config.option.tbstyle == "auto" and not self.config.option.debug:
                detail = report.longreprtext
                if detail:
                    record.attach("failure detail", detail)
                report.longrepr = f"{record.check_id}: {_failure_message(exc, report)}"
            return
        if isinstance(exc, pytest.fail.Exception | pytest.skip.Exception | KeyboardInterrupt):
            return
        self.harness_bugs.append(f"{record.check_id}: {type(exc).__name__}: {exc}".splitlines()[0])

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Remember the interruption (Ctrl-C, SIGTERM/SIGHUP turned into it, `pytest.exit`):
        the verdict becomes INTERRUPTED and the bundle is sealed. pytest reports collection
        errors through this hook too: those are missing checks, not an interruption."""
        if isinstance(excinfo.value, pytest.Session.Interrupted):
            return
        self.interrupted = True
        if isinstance(excinfo.value, pytest.exit.Exception):
            self.signals.cause = self.signals.cause or f"pytest.exit ({excinfo.value.msg})"
        self.signals.interrupted_by_ctrl_c()

    # -- header and verdict -------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Show the resolved target and what the session will do."""
        s = self.settings
        target = "built-in lab" if s.is_lab else s.target_url
        lines = [
            f"dtr-upgrade: target {target}; mode {s.mode}"
            + (f"; to {s.to_version}" if s.to_version else "")
            + ("; TLS verification OFF (--insecure-tls)" if s.insecure_tls else ""),
        ]
        return lines + self.header_lines

    def decide(self) -> verdicts.Verdict:
        """The session's verdict from what has been recorded so far."""
        return verdicts.decide(
            self.settings.mode,
            self.outcomes(),
            self.upgrade_state,
            interrupted=self.interrupted,
            stop=self._stop() if self.interrupted or self.upgrade_state == "interrupted" else None,
            upgrade_message=self.upgrade_message,
            collection_errors=[e["nodeid"] for e in self.collect_errors],
        )

    def _stop(self) -> verdicts.Stop:
        """How the session was stopped: the cause, the phase, whether a bootstrapper started."""
        # Once the upgrade procedure started, the cluster may have changed: only a session
        # that never reached it may say that nothing was changed.
        changed = self.upgrade_runner is not None
        verify = ""
        if self.upgrade_state == "passed" and self.bundle.file("baseline.json").exists():
            final = self.bundle.final_path(
                self.session_record.from_version, self.session_record.to_version
            )
            verify = shlex.join(
                [
                    "pytest",
                    *_without(
                        self.config.invocation_params.args, "--apply", "--phase", "--baseline"
                    ),
                    "--phase=post",
                    f"--baseline={(final / 'baseline.json').resolve()}",
                ]
            )
        return verdicts.Stop(
            cause=self.signals.cause or "Ctrl-C",
            phase=self.current_phase,
            changed=changed,
            verify_command=verify,
        )

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None]:
        """Decide the verdict before the report plugins write, then seal the bundle and print
        the verdict as the very last terminal line. A write failure of a report plugin (a full
        disk) is recorded, never allowed to lose the rest of the bundle."""
        self.signals.shield()
        # What the prober measured belongs in result.json, also when the session was stopped.
        self.stop_prober()
        if self._target is not None:
            self.session_record.ucp_url = self._target.known_ucp_url
        if self.refused or self.collect_only:
            try:
                return (yield)
            finally:
                self._discard_bundle()
        for record in self.records.values():
            if record.outcome == "not-run" and record.started_at is not None:
                record.outcome = "interrupted"
                record.message = "the session stopped while this check ran"
        self.final = self.decide()
        if not self.final.good and session.exitstatus == pytest.ExitCode.OK:
            # An incomplete session is never a success, whatever pytest counted.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        try:
            return (yield)
        finally:
            try:
                self._write_bundle()
            finally:
                self.close_target()
            if self.session_record.bundle_problems and session.exitstatus == pytest.ExitCode.OK:
                # The change may be fine, but its evidence is not whole: a CI job must notice.
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            self._print_verdict()

    def bundle_problem(self, exc: OSError) -> None:
        """Record a write failure of the bundle: one line naming the path and the cause."""
        where = str(exc.filename or "a report file").removeprefix(f"{self.bundle.path}/")
        self.session_record.bundle_problems.append(f"{where}: {exc.strerror or exc}")

    def _discard_bundle(self) -> None:

        self.close_target()
        shutil.rmtree(self.bundle.path, ignore_errors=True)
        if self.collect_only:
            self.config.get_terminal_writer().line(
                "dtr-upgrade: --collect-only lists the checks; nothing was checked, so there is "
                "no verdict and no bundle."
            )

    def _write_bundle(self) -> None:
        record = self.session_record
        assert self.final is not None
        record.verdict = self.final.word
        record.verdict_reason = self.final.reason
        record.finished_at = utc_now()
        lost = unwritten(self.bundle.path, html=self.config.pluginmanager.hasplugin("html"))
        if lost:
            # The files are named now: the report plugins' unnamed write errors say no more.
            record.bundle_problems[:] = [
                p for p in record.bundle_problems if not p.startswith("a report file")
            ]
        record.bundle_problems.extend(lost)
        try:
            add_unrun_to_junit(self.bundle.file(JUNIT_NAME), record.checks)
        except (OSError, ElementTree.ParseError) as exc:
            record.bundle_problems.append(f"{JUNIT_NAME}: checks that did not run not added: {exc}")
        try:
            write_json(self.bundle.file("result.json"), record.as_dict())
        except OSError as exc:
            self.bundle_problem(exc)

        try:
            warnings = seal(self.bundle.path, self.redaction_steps(), self.settings.sign_key)
        except OSError as exc:
            self.bundle_problem(exc)
        else:
            for warning in warnings:
                self.say(f"dtr-upgrade: {warning}")
        try:
            self.bundle.finalise(record.from_version, record.to_version)
        except OSError as exc:
            # Left staged: the next session names and seals it as unfinished.
            self.bundle_problem(exc)
        for name, destination in self.copies.items():
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.bundle.file(name), destination)
            except OSError as exc:
                self.session_record.bundle_problems.append(
                    f"{name} was not copied to {destination}: {exc.strerror or exc}"
                )

    def _print_verdict(self) -> None:
        assert self.final is not None
        writer = self.config.get_terminal_writer()
        colour = {"green": True} if self.final.good else {"red": True, "bold": True}
        if writer.width_of_current_line:
            writer.line()
        for problem in self.session_record.bundle_problems:
            writer.line(f"dtr-upgrade: the bundle is incomplete: {problem}")
        for bug in self.harness_bugs:
            writer.line(
                f"dtr-upgrade: {bug} - a harness bug, not a finding about the DTR; the traceback "
                f"is above and in {self.bundle.path.resolve() / 'report.html'}"
            )
        for name in self.signals.ignored:
            writer.line(f"dtr-upgrade: {name} arrived while the bundle was sealed; it was ignored")
        writer.line(f"bundle: {self.bundle.path.resolve()}")
        reason = self.final.reason
        if self.session_record.bundle_problems:
            count = len(self.session_record.bundle_problems)
            reason = (
                f"{reason.removesuffix('.')}; but the evidence bundle is incomplete "
                f"({count} problem{'s' if count != 1 else ''} above)."
            )
            colour = {"red": True, "bold": True}
        writer.line(f"VERDICT: {self.final.word} - {reason}", **colour)

    def pytest_unconfigure(self) -> None:
        """Put the signal handlers back and release the upgrade lock."""
        self.signals.restore()
        if self.upgrade_lock is not None:
            self.upgrade_lock.release()


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


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _failure_message(exc: BaseException | None, report: pytest.TestReport) -> str:
    if exc is not None:
        text = str(exc).strip() or type(exc).__name__
        return text.splitlines()[0]
    return str(report.longrepr or "").strip().splitlines()[-1] if report.longrepr else ""
