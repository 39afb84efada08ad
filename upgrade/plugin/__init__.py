"""The pytest plugin: options, settings, phase ordering, the gate, waivers and the verdict.

Loaded from the root `conftest.py`. It stays inert unless `--target` is given, so the harness's
own test suite (`pytest tests`) runs with it loaded but untouched.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Generator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import pytest

from upgrade.config.options import OPTIONS, OptionSpec
from upgrade.config.settings import Settings, resolve
from upgrade.config.values import SettingsError
from upgrade.config.waivers import NO_WAIVERS, WaiverError, Waivers
from upgrade.config.waivers import load as load_waivers
from upgrade.errors import HarnessError
from upgrade.evidence.records import (
    Bundle,
    CheckRecord,
    SessionRecord,
    close_unfinished,
    unfinished_bundles,
    utc_now,
    write_json,
)
from upgrade.plugin.signals import SignalGuard
from upgrade.plugin.terminal import protect_stdout, restore_stdout
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from pathlib import Path

    from upgrade.cluster.baseline import Baseline
    from upgrade.cluster.health import Settled
    from upgrade.cluster.jobs import MigrationOutcome
    from upgrade.cluster.nodes import NodeFacts
    from upgrade.cluster.target import Target
    from upgrade.cluster.vulndb import VulnDBOutcome
    from upgrade.procedure.lock import HeldLock
    from upgrade.procedure.procedure import UpgradeRecord
    from upgrade.procedure.session import SessionUpgrade
    from upgrade.rules.catalog import Catalog
    from upgrade.rules.versions import Version

PHASES = ("preflight", "upgrade", "post")
GROUP = "dtr-upgrade"

harness_key = pytest.StashKey["Harness"]()
record_key = pytest.StashKey[CheckRecord]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register every harness option in one group, with an ini twin where useful."""
    group = parser.getgroup(GROUP, "DTR upgrade verification")
    for spec in OPTIONS:
        if spec.ini:
            parser.addini(f"dtr_{spec.dest}", spec.help, default=None)
        if not spec.register:
            continue
        shown = f" (default: {spec.default})" if spec.default is not None else ""
        kwargs: dict[str, Any] = {"dest": spec.dest, "help": spec.help + shown}
        if spec.kind == "flag":
            kwargs.update(action="store_true", default=False)
        elif spec.kind == "list":
            kwargs.update(action="append", default=[], metavar=spec.metavar)
        else:
            kwargs.update(default=None, metavar=spec.metavar)
        group.addoption(spec.name, **kwargs)


def _lookup(config: pytest.Config, ini: bool = False) -> Any:
    """The command-line value of an option, or with `ini=True` its ini file's `dtr_<name>`."""

    def lookup(spec: OptionSpec) -> object:
        if ini:
            return config.getini(f"dtr_{spec.dest}") if spec.ini else None
        return config.getoption(spec.dest, default=None)

    return lookup


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register markers; when a target is given, resolve settings once and start the harness."""
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: a check of the {phase} phase")
    config.addinivalue_line("markers", "check(id): the stable check ID shown in the report")
    try:
        settings = resolve(_lookup(config), os.environ, ini=_lookup(config, ini=True))
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.target is None:
        return
    _warnings_never_fail(config)
    # Before _pytest.terminal's pytest_configure builds its reporter on sys.stdout.
    protect_stdout(config.pluginmanager)
    _refuse_unsafe(config, settings)
    now = utc_now()
    try:
        waivers = load_waivers(settings.waivers, now) if settings.waivers else NO_WAIVERS
    except WaiverError as exc:
        raise pytest.UsageError(str(exc)) from None
    held = _take_upgrade_lock(config, settings, now)
    try:
        recovered = _close_unfinished(settings, now)
        harness = Harness(config, settings, waivers, now)
    except OSError as exc:
        if held is not None:
            held.release()
        raise pytest.UsageError(
            f"--report-dir {settings.report_dir}: the bundle cannot be created there "
            f"({exc.strerror or exc}); choose a writable directory"
        ) from None
    harness.upgrade_lock = held
    harness.header_lines.extend(recovered)
    harness.header_lines.extend(
        f"dtr-upgrade: the waiver for {w.check} (approved by {w.approver}) expired "
        f"{w.expires.isoformat()}; it is ignored"
        for w in waivers.expired
    )
    harness.signals.install()
    config.stash[harness_key] = harness
    config.pluginmanager.register(harness, "dtr-upgrade-harness")
    from upgrade.plugin.report import ReportPlugin

    # Registered after pytest-html and junitxml were loaded, so its pytest_configure runs now,
    # before theirs, and can point their output into the bundle.
    config.pluginmanager.register(ReportPlugin(harness), "dtr-upgrade-report")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo `protect_stdout` (nothing to do when no target was given)."""
    restore_stdout(config.pluginmanager)


# Later filterwarnings lines win over earlier ones (an operator's ini file).
OPERATOR_WARNING_FILTERS = ("default", "ignore::ResourceWarning")


def _warnings_never_fail(config: pytest.Config) -> None:
    """In an operator's session every warning is shown, never an error: a dependency's leaked
    socket or deprecation cannot change a verdict or the exit status, whatever the ini says.

    The ini lines cover collection and each check. pytest read the filters it keeps for the
    whole session (in force when it collects unraisable exceptions at the end) before this
    hook, so they are set here too, until the session's cleanup.
    """
    import warnings

    for line in OPERATOR_WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", line)
    session_filters = warnings.catch_warnings()
    session_filters.__enter__()
    config.add_cleanup(lambda: session_filters.__exit__(None, None, None))
    warnings.simplefilter("default")
    warnings.simplefilter("ignore", ResourceWarning)


def _refuse_unsafe(config: pytest.Config, settings: Settings) -> None:
    if settings.apply and settings.to_version is None:
        raise pytest.UsageError("--apply needs --to-version: say which version to upgrade to")
    if settings.apply and settings.phase != "all":
        raise pytest.UsageError(
            f"--apply runs preflight, upgrade and post checks; it cannot be combined with "
            f"--phase={settings.phase}"
        )
    if settings.phase == "post" and (settings.to_version is None or settings.baseline is None):
        raise pytest.UsageError(
            "--phase=post verifies an upgrade against the cluster before it: pass "
            "--to-version=VERSION and --baseline=reports/<preflight bundle>/baseline.json"
        )
    dist = getattr(config.option, "dist", "no")
    numprocesses = getattr(config.option, "numprocesses", None)
    if dist not in (None, "no") or numprocesses or os.environ.get("PYTEST_XDIST_WORKER"):
        raise pytest.UsageError(
            "the harness cannot run under pytest-xdist (-n/--dist): one session judges one "
            "cluster in one process (each worker would start its own lab, write its own bundle "
            "and decide its own verdict); drop -n/--dist"
        )
    if config.option.collectonly and settings.apply:
        raise pytest.UsageError(
            "--collect-only lists the checks; it cannot be combined with --apply"
        )


def _take_upgrade_lock(config: pytest.Config, settings: Settings, now: datetime) -> HeldLock | None:
    """With --apply against a real DTR: the machine's lock of that DTR, or a usage error naming
    the session that holds it. The lab is a cluster of its own session: nothing to share."""
    if not settings.apply or settings.is_lab:
        return None
    from upgrade.procedure import lock

    holder = lock.Holder.of_this_process(
        settings.target_url,
        command=["pytest", *config.invocation_params.args],
        bundle=settings.report_dir.resolve(),
        started_at=now,
    )
    try:
        return lock.acquire(settings.target_url, holder)
    except (lock.LockHeld, lock.LockError) as exc:
        raise pytest.UsageError(str(exc)) from None


def _close_unfinished(settings: Settings, now: datetime) -> list[str]:
    """Name and seal the staged bundles of earlier sessions that were killed; one line each."""
    from upgrade.evidence import integrity

    redact = integrity.environment_redactor(os.environ).redact

    def seal(directory: Path) -> object:
        return integrity.seal(directory, [redact])

    lines = []
    for staged, pid in unfinished_bundles(settings.report_dir):
        try:
            closed = close_unfinished(staged, pid, now, seal)
        except (OSError, HarnessError) as exc:
            lines.append(f"dtr-upgrade: an unfinished bundle {staged} could not be sealed: {exc}")
            continue
        lines.append(
            f"dtr-upgrade: an earlier session (pid {pid}) was killed before it sealed its "
            f"bundle; sealed as {closed.resolve()} (verdict UNFINISHED)"
        )
    return lines


def _phase_of(item: pytest.Item) -> str | None:
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a target, refuse to run checks; the harness object handles the rest."""
    if harness_key in config.stash:
        return
    checks = [item for item in items if _phase_of(item) is not None]
    if checks:
        raise pytest.UsageError(
            "these are DTR upgrade checks: pass --target=HOST (your DTR) or --target=lab"
        )


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
        self.lab: Any = None
        self._catalog: Catalog | None = None
        self._node_facts: dict[str, NodeFacts] = {}
        self.upgrade_runner: SessionUpgrade | None = None
        self.signals = SignalGuard()
        self.current_phase: str | None = None
        self.collect_only = bool(config.option.collectonly)
        # Items this mode does not run (another phase): not part of the session at all.
        self._outside: set[str] = set()
        self._deselected: list[pytest.Item] = []
        self.collect_errors: list[dict[str, str]] = []
        self.upgrade_lock: HeldLock | None = None
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
        from upgrade.cluster import target as targets

        if not self.settings.is_lab:
            target = targets.from_settings(self.settings, os.environ)
            # One handshake first: an unreachable or untrusted target then fails every check
            # at once with the same one-line cause instead of after each check's retries.
            from upgrade.clients.http import DTR
            from upgrade.clients.tls import peer_certificate

            peer_certificate(target.dtr_url, target.dtr_verify, DTR)
            return target
        from upgrade.cluster import lab as labtarget

        self.lab, target = labtarget.start(self.settings, self.bundle.path)
        return target

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
            return  # the terminal guard (upgrade.plugin.terminal) records the failure

    def run_upgrade(self, current: Version) -> UpgradeRecord:
        """Run the planned upgrade with the bootstrapper; record it and return the record."""
        from upgrade.rules.planner import plan

        assert self.settings.to_version is not None
        closed = self.gate_problem()
        if closed is not None:
            # The gate is also checked here, where the upgrade starts, so nothing that requests
            # the upgrade fixture can start it past a closed gate.
            raise HarnessError(f"the upgrade was refused: {closed}")
        planned = plan(current, self.settings.to_version, self.catalog())
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
        from upgrade.procedure.session import SessionUpgrade

        runner = SessionUpgrade(self, planned)
        self.upgrade_runner = runner
        record = runner.run()
        self.upgrade_state = record.state
        self.upgrade_message = record.message
        return record

    def lab_knows(self, version: Version) -> bool:
        """Whether the lab has a bootstrapper for `version`."""
        from dtrlab.catalogue import is_known

        return is_known(str(version))

    def lab_backup(self) -> Any:
        """The backup the lab provides for its scenario (None when the scenario has none)."""
        if self.lab is None:
            return None
        from upgrade.cluster import lab as labtarget

        return labtarget.backup(self.lab, self.lab.directory)

    def close_target(self) -> None:
        """Stop the prober, close the clients and stop the lab."""
        if self.upgrade_runner is not None:
            self.upgrade_runner.close()
        if self._target is not None:
            self._target.close()
        if self.lab is not None:
            self.lab.__exit__(None, None, None)
            self.lab = None

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

    def _wanted(self, phase: str) -> bool:
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
            phase = _phase_of(item)
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
        keep = [item for item in items if self._wanted(_phase_of(item) or "")]
        dropped = [item for item in items if item not in keep]
        if dropped:
            self._outside.update(item.nodeid for item in dropped)
            config.hook.pytest_deselected(items=dropped)
        keep.sort(key=lambda item: PHASES.index(_phase_of(item) or "post"))
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
            phase=_phase_of(item) or "",
            description=_description(item),
            outcome=outcome,
        )
        if outcome == "deselected":
            record.message = "deselected by -k/-m/--deselect: this check did not run"
        self.records[item.nodeid] = record
        self.session_record.checks.append(record)
        return record

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Make every check's record from the final item list (each starts as not run);
        refuse --apply when a selection or a collection error removed any check."""
        checks = [item for item in session.items if _phase_of(item) in PHASES]
        deselected = [i for i in self._deselected if _phase_of(i) in PHASES]
        if self.settings.apply and (deselected or self.collect_errors):
            self.refused = True
            removed = verdicts.ids_text(
                [verdicts.Outcome(_check_id(i) or i.nodeid, "", "") for i in deselected]
            )
            why = (
                f"-k/-m/--deselect removed {len(deselected)} check(s) ({removed})"
                if deselected
                else f"{len(self.collect_errors)} file(s) of checks failed to collect"
            )
            raise pytest.UsageError(
                f"--apply runs the whole procedure and only after every preflight check ran: "
                f"{why}; run without the selection, or without --apply for a read-only look"
            )
        for item in checks:
            item.stash[record_key] = self._record(item, "not-run")
        for item in deselected:
            self._record(item, "deselected")

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
            verify = (
                f"pytest --target={self.settings.target} --to-version={self.settings.to_version} "
                f"--phase=post --baseline={(final / 'baseline.json').resolve()}"
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
            self._print_verdict()

    def bundle_problem(self, exc: OSError) -> None:
        """Record a write failure of the bundle: one line naming the path and the cause."""
        where = str(exc.filename or "a report file").removeprefix(f"{self.bundle.path}/")
        self.session_record.bundle_problems.append(f"{where}: {exc.strerror or exc}")

    def _discard_bundle(self) -> None:
        import shutil

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
        from upgrade.plugin.report import JUNIT_NAME, add_unrun_to_junit, seal_bundle, unwritten

        record.bundle_problems.extend(unwritten(self.bundle.path))
        try:
            add_unrun_to_junit(self.bundle.file(JUNIT_NAME), record.checks)
        except (OSError, ElementTree.ParseError) as exc:
            record.bundle_problems.append(f"{JUNIT_NAME}: checks that did not run not added: {exc}")
        try:
            write_json(self.bundle.file("result.json"), record.as_dict())
        except OSError as exc:
            self.bundle_problem(exc)

        try:
            seal_bundle(self)
        except OSError as exc:
            self.bundle_problem(exc)
        try:
            self.bundle.finalise(record.from_version, record.to_version)
        except OSError as exc:
            # Left staged: the next session names and seals it as unfinished.
            self.bundle_problem(exc)

    def _print_verdict(self) -> None:
        assert self.final is not None
        writer = self.config.get_terminal_writer()
        colour = {"green": True} if self.final.good else {"red": True, "bold": True}
        if writer.width_of_current_line:
            writer.line()
        for problem in self.session_record.bundle_problems:
            writer.line(f"dtr-upgrade: the bundle is incomplete: {problem}")
        for name in self.signals.ignored:
            writer.line(f"dtr-upgrade: {name} arrived while the bundle was sealed; it was ignored")
        writer.line(f"bundle: {self.bundle.path.resolve()}")
        writer.line(f"VERDICT: {self.final.word} - {self.final.reason}", **colour)

    def pytest_unconfigure(self) -> None:
        """Put the signal handlers back and release the upgrade lock."""
        self.signals.restore()
        if self.upgrade_lock is not None:
            self.upgrade_lock.release()


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


# -- fixtures ---------------------------------------------------------------------------------


def _harness(request: pytest.FixtureRequest) -> Harness:
    harness = request.config.stash.get(harness_key, None)
    if harness is None:
        raise pytest.UsageError("the harness fixtures need --target=HOST or --target=lab")
    return harness


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """The session's resolved settings."""
    return _harness(request).settings


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> CheckRecord:
    """The current check's evidence record: `attach(name, value)` and `note(text)`."""
    node: pytest.Item = request.node
    record = node.stash.get(record_key, None)
    if record is None:
        raise pytest.UsageError(f"{node.nodeid} is not a harness check")
    return record


@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> Harness:
    """The session's harness run state."""
    return _harness(request)


@pytest.fixture(scope="session")
def bundle(harness: Harness) -> Bundle:
    """The session's evidence bundle (its folder while the session runs)."""
    return harness.bundle


@pytest.fixture(scope="session")
def catalog(harness: Harness) -> Catalog:
    """The release catalogue (shipped, extended by --catalog)."""
    return harness.catalog()


@pytest.fixture(scope="session")
def target(harness: Harness) -> Target:
    """The DTR cluster under test (the lab when --target=lab)."""
    return harness.target()


@pytest.fixture(scope="session")
def replica_versions(target: Target) -> dict[str, str]:
    """Each replica's DTR version, read from the replica itself (docs.json info.version)."""
    dtr = target.dtr()
    return {rid: dtr.version(url) for rid, url in sorted(target.replica_urls().items())}


@pytest.fixture(scope="session")
def current_version(harness: Harness, replica_versions: dict[str, str]) -> Version:
    """The one DTR version the cluster runs; an error when replicas disagree."""
    from upgrade.rules.versions import Version

    distinct = sorted(set(replica_versions.values()))
    if len(distinct) != 1:
        pytest.skip(
            f"needs one running version; replicas run {', '.join(distinct)} "
            "(see PRE-REPLICA-VERSIONS)"
        )
    version = Version.parse(distinct[0])
    harness.session_record.from_version = str(version)
    return version


@pytest.fixture(scope="session")
def dtr_version_for_compat(settings: Settings, current_version: Version) -> Version:
    """The DTR version UCP must support: the target when upgrading, else the running one."""
    return settings.to_version or current_version


@pytest.fixture(scope="session")
def backup_file(harness: Harness, settings: Settings) -> Path | None:
    """The backup to check: --backup, else (lab) the one the lab's scenario provides."""
    if settings.backup is not None:
        return settings.backup
    harness.target()
    return harness.lab_backup()  # type: ignore[no-any-return]


@pytest.fixture
def node_index(node_spec: str, settings: Settings) -> int:
    """Position of the node in --hosts (the first runs the upgrade)."""
    return settings.hosts.index(node_spec) if node_spec else -1


@pytest.fixture
def node_facts(harness: Harness, node_spec: str) -> NodeFacts:
    """Memory, disk, engine and clock of one --hosts node (testinfra)."""
    if not node_spec:
        pytest.skip("no --hosts given: node resources were not checked")
    return harness.node_facts(node_spec)


@pytest.fixture(scope="session")
def baseline(harness: Harness, settings: Settings, target: Target) -> Baseline:
    """The cluster before the change: recorded in preflight, or --baseline for --phase=post."""
    from upgrade.cluster import baseline as baselines

    if settings.mode == "verify":
        if settings.baseline is None:
            pytest.skip("no --baseline given: pass baseline.json of the preflight bundle")
        return baselines.load(settings.baseline)
    versions = {
        rid: target.dtr().version(url) for rid, url in sorted(target.replica_urls().items())
    }
    recorded = baselines.record(target, versions)
    recorded.save(harness.bundle.file("baseline.json"))
    return recorded


@pytest.fixture(scope="session")
def upgrade_run(
    harness: Harness, settings: Settings, current_version: Version
) -> UpgradeRecord | None:
    """The upgrade of this session: runs once, after a passed gate, for the upgrade and post
    checks. None with --phase=post: nothing runs and the post checks verify what is there."""
    if settings.mode == "verify":
        return None
    if settings.mode != "upgrade":
        pytest.skip("no upgrade in this session (--apply not given)")
    return harness.run_upgrade(current_version)


@pytest.fixture(scope="session")
def settled(
    harness: Harness, settings: Settings, target: Target, upgrade_run: UpgradeRecord | None
) -> Settled:
    """The cluster after the upgrade, polled until healthy or --settle-timeout; availability
    sampling stops here, once post-upgrade health is reached."""
    from upgrade.cluster.health import wait_healthy

    result = wait_healthy(target, settings.settle_timeout.total_seconds())
    if harness.upgrade_runner is not None:
        harness.upgrade_runner.stop_prober()
    return result


# -- post-upgrade follow-ups ------------------------------------------------------------------


@pytest.fixture(scope="session")
def upgrade_began(request: pytest.FixtureRequest, upgrade_run: UpgradeRecord | None) -> datetime:
    """When the upgrade began, for "since the upgrade" comparisons: this session's upgrade
    start, or with --phase=post the moment the --baseline was taken (skipped without one)."""
    if upgrade_run is not None and upgrade_run.started_at is not None:
        return upgrade_run.started_at
    baseline: Baseline = request.getfixturevalue("baseline")
    return baseline.taken_at


@pytest.fixture(scope="session")
def upgrade_hops(
    request: pytest.FixtureRequest, upgrade_run: UpgradeRecord | None, current_version: Version
) -> list[tuple[Version, Version]]:
    """The hops the upgrade crossed: this session's plan, or with --phase=post from the
    --baseline's oldest replica version to the running one (skipped without a baseline)."""
    from upgrade.rules.versions import Version

    if upgrade_run is not None:
        return [
            (Version.parse(h.from_version), Version.parse(h.to_version)) for h in upgrade_run.hops
        ]
    baseline: Baseline = request.getfixturevalue("baseline")
    before = sorted(Version.parse(v) for v in baseline.replica_versions.values())
    return [(before[0], current_version)] if before and before[0] < current_version else []


@pytest.fixture(scope="session")
def migrations(
    settings: Settings,
    target: Target,
    catalog: Catalog,
    upgrade_hops: list[tuple[Version, Version]],
    upgrade_began: datetime,
    upgrade_run: UpgradeRecord | None,
    settled: Settled,
) -> list[MigrationOutcome]:
    """The catalogue's migration jobs of every hop crossed, each followed to its end within
    --migration-timeout (re-triggered once with --retrigger-migrations)."""
    from upgrade.cluster.jobs import curl_submit_job, follow_migration

    dtr = target.dtr()

    def shown_done() -> str | None:
        if dtr.features().metadata_store_opted_in:
            return "features.metadataStoreOptedIn is true, which the migration sets"
        return None

    outcomes = []
    for source, dest in upgrade_hops:
        for migration in catalog.migrations(source, dest):
            request = curl_submit_job(
                target.dtr_url,
                migration.job,
                target.dtr_credentials.secret_variable,
                target.endpoints.dtr_ca,
            )
            outcomes.append(
                follow_migration(
                    dtr,
                    migration.job,
                    f"{migration.from_line} -> {migration.to_line}",
                    upgrade_began,
                    settings.migration_timeout.total_seconds(),
                    request=request,
                    retrigger=settings.retrigger_migrations,
                    expected_attempts=migration.attempts,
                    # Only metadatastoremigration has an outcome flag (features).
                    done_without_job=shown_done
                    if upgrade_run is None and migration.job == "metadatastoremigration"
                    else None,
                    slack=settings.max_clock_skew,
                )
            )
    return outcomes


@pytest.fixture(scope="session")
def vuln_db(
    settings: Settings,
    target: Target,
    upgrade_run: UpgradeRecord | None,
    upgrade_began: datetime,
    settled: Settled,
) -> VulnDBOutcome | None:
    """The vulnerability database after the update --update-vuln-db asks for (followed within
    --vuln-db-timeout); None when scanning is disabled."""
    from upgrade.cluster import vulndb

    dtr = target.dtr()
    dtr_settings = dtr.settings()
    if not dtr_settings.scanning_enabled:
        return None
    plan = vulndb.choose(
        settings.update_vuln_db,
        settings.vuln_db_file,
        ran_upgrade=upgrade_run is not None and upgrade_run.state == "passed",
        sync_online=dtr_settings.scanning_sync_online,
    )
    fix = vulndb.fix_for(
        plan, target.dtr_url, target.dtr_credentials.secret_variable, target.endpoints.dtr_ca
    )
    return vulndb.update_and_verify(
        dtr,
        plan,
        upgrade_began,
        settings.vuln_db_timeout.total_seconds(),
        fix=fix,
        slack=settings.max_clock_skew,
    )
