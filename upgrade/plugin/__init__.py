"""The pytest plugin: options, the refusals before anything runs, and the session's start.

Loaded from the root `conftest.py` (or with `-p upgrade.plugin`). It stays inert unless
`--target` is given, so the harness's own test suite (`pytest tests`) runs with it loaded but
untouched. With a target it resolves the settings once, refuses unsafe combinations, takes the
upgrade lock for `--apply`, seals bundles of killed sessions, keeps the run state
(`upgrade.plugin.harness`) and registers the objects whose hooks fill it (`collection`,
`check_runs`, `session_end`, `terminal_lines`), the report (`report`) and the fixtures
(`fixtures`, `upgrade_fixtures`). `_register_session` says in which order each one's steps run.
"""

from __future__ import annotations

import itertools
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from upgrade.cluster.site import needs_upgrade_lock
from upgrade.config.options import OPTIONS, OptionSpec
from upgrade.config.settings import Settings, resolve
from upgrade.config.values import SettingsError
from upgrade.config.waivers import NO_WAIVERS, WaiverError
from upgrade.config.waivers import load as load_waivers
from upgrade.errors import HarnessError
from upgrade.evidence.bundle import close_unfinished, remove_abandoned_names, unfinished_bundles
from upgrade.evidence.records import utc_now
from upgrade.plugin import fixtures, upgrade_fixtures
from upgrade.plugin.check_runs import CheckRuns, ReportStep
from upgrade.plugin.collection import PHASES, TARGET_VERSION_MARKER, Collection, phase_of
from upgrade.plugin.harness import Harness, harness_key
from upgrade.plugin.session_end import SessionEnd, SessionStep
from upgrade.plugin.terminal_lines import TerminalHeader
from upgrade.terminal import protect_stdout, restore_stdout

if TYPE_CHECKING:
    from upgrade.procedure.lock import HeldLock

GROUP = "dtr-upgrade"


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


# tryfirst: before the terminal's pytest_configure builds its reporter (protect_stdout), and
# before pytest-html's and junitxml's read the report paths the bundle gives them.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register markers; when a target is given, resolve settings once and start the harness."""
    for phase in PHASES:
        config.addinivalue_line("markers", f"{phase}: a check of the {phase} phase")
    config.addinivalue_line("markers", "check(id): the stable check ID shown in the report")
    config.addinivalue_line(
        "markers",
        f"{TARGET_VERSION_MARKER}: a check of a change, run only when --to-version is given",
    )
    for module, name in (
        (fixtures, "dtr-upgrade-fixtures"),
        (upgrade_fixtures, "dtr-upgrade-upgrade-fixtures"),
    ):
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, name)
    try:
        settings = resolve(_lookup(config), os.environ, ini=_lookup(config, ini=True))
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.target is None:
        return
    _refuse_misread_paths(config)
    _refuse_without_report(config)
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
    _register_session(config, harness)


# The session's plugin objects, by the name `-p no:NAME` can block (the report's is used so).
REPORT_PLUGIN = "dtr-upgrade-report"
SESSION_PLUGINS = (
    "dtr-upgrade-collection",
    "dtr-upgrade-check-runs",
    "dtr-upgrade-session-end",
    "dtr-upgrade-terminal",
)


def _register_session(config: pytest.Config, harness: Harness) -> None:
    """Register the hooks that fill the run state, and the report unless it is blocked.

    The order the plugin's own steps depend on is written here, not left to hook annotations:
    the report is pointed into the bundle now (this hook runs before pytest-html's and
    junitxml's configure); each check's report is recorded, then gets its evidence; at the end
    the verdict is decided, then the report compares and fills its environment table.
    """
    from upgrade.plugin.report import ReportPlugin

    report = ReportPlugin(harness)
    after_outcome: list[ReportStep] = []
    before_reports: list[SessionStep] = []
    if config.pluginmanager.register(report, REPORT_PLUGIN) is not None:
        report.point_reports_into_bundle(config)
        after_outcome.append(report.attach_evidence)
        before_reports.extend((report.compare_with_earlier, report.fill_environment_table))
    objects = (
        Collection(harness),
        CheckRuns(harness, after_outcome),
        SessionEnd(harness, before_reports),
        TerminalHeader(harness),
    )
    for name, plugin in zip(SESSION_PLUGINS, objects, strict=True):
        config.pluginmanager.register(plugin, name)


def pytest_unconfigure(config: pytest.Config) -> None:
    """In this order: the session's signal handlers put back and its upgrade lock released,
    its plugin objects unregistered; then `protect_stdout` undone (all there is to do when no
    target was given)."""
    harness = config.stash.get(harness_key, None)
    if harness is not None:
        harness.signals.restore()
        if harness.upgrade_lock is not None:
            harness.upgrade_lock.release()
        for name in (*SESSION_PLUGINS, REPORT_PLUGIN):
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)
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


def _refuse_misread_paths(config: pytest.Config) -> None:
    """`--report-dir /some/dir` (a space, not `=`) naming an existing path outside the current
    folder: pytest picks its rootdir and ini file from the command line before it knows the
    option takes a value, so it took the path for a folder of tests (another rootdir, no
    `testpaths`, the harness's own suite collected). Refused, naming the form that works."""
    args = list(config.invocation_params.args)
    names = {spec.name for spec in OPTIONS if spec.kind != "flag"}
    here = Path.cwd().resolve()
    for name, value in itertools.pairwise(args):
        if name not in names or value.startswith("-"):
            continue
        path = Path(value).expanduser()
        if path.exists() and not path.resolve().is_relative_to(here):
            raise pytest.UsageError(
                f"{name} {value}: write {name}={value} (with '='): given apart, pytest takes "
                f"an existing path outside this folder for a folder of tests"
            )


def _refuse_without_report(config: pytest.Config) -> None:
    """The bundle's report is pytest-html's: without it (`-p no:html`) the evidence a change
    board reads would be missing from a session that still says UPGRADED."""
    if not config.pluginmanager.hasplugin("html"):
        raise pytest.UsageError(
            "the session's report.html is written by pytest-html, which is disabled "
            "(-p no:html) or not installed: drop -p no:html (or run make install)"
        )


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
    if settings.take_backup and (settings.to_version is None or settings.phase == "post"):
        # Refused, not ignored: an operator who asked for a backup must not believe one was
        # taken. The backup is taken before PRE-BACKUP, in a session that runs preflight.
        raise pytest.UsageError(
            "--backup=take takes the backup a preflight needs before an upgrade: pass "
            "--to-version=VERSION (and no --phase=post), or drop --backup=take"
        )
    _refuse_baseline(settings)
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


def _refuse_baseline(settings: Settings) -> None:
    """--baseline only with --phase=post (any other session records its own), and only a
    baseline file as its preflight bundle sealed it: an edited one would hide damage."""
    if settings.baseline is None:
        return
    if settings.phase != "post":
        raise pytest.UsageError(
            "--baseline is read only by --phase=post, which compares the cluster against it "
            "(a preflight records its own): drop --baseline, or add --phase=post"
        )
    from upgrade.cluster.baseline import BaselineError
    from upgrade.cluster.baseline_seal import check_sealed

    try:
        check_sealed(settings.baseline)
    except BaselineError as exc:
        raise pytest.UsageError(str(exc)) from None


def _take_upgrade_lock(config: pytest.Config, settings: Settings, now: datetime) -> HeldLock | None:
    """When the site says the session needs it (--apply against a cluster others can reach):
    the machine's lock of that DTR, or a usage error naming the session that holds it."""
    if not needs_upgrade_lock(settings):
        return None
    from upgrade.procedure import lock, lock_holder

    holder = lock_holder.Holder.of_this_process(
        settings.target_url,
        command=["pytest", *config.invocation_params.args],
        bundle=settings.report_dir.resolve(),
        started_at=now,
    )
    try:
        return lock.acquire_all(settings.target_url, holder)
    except (lock.LockHeld, lock.LockError) as exc:  # the classes lock.py itself raises
        raise pytest.UsageError(str(exc)) from None


def _close_unfinished(settings: Settings, now: datetime) -> list[str]:
    """Name and seal the staged bundles of earlier sessions that were killed; one line each."""
    from upgrade.evidence import integrity

    redact = integrity.environment_redactor(os.environ).redact

    def seal(directory: Path) -> object:
        return integrity.seal(directory, [redact])

    lines = [
        f"dtr-upgrade: removed {path.resolve()}, a bundle name reserved by a session that was "
        "killed before it moved its bundle there"
        for path in remove_abandoned_names(settings.report_dir)
    ]
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a target, refuse to run checks; the harness object handles the rest."""
    if harness_key in config.stash:
        return
    checks = [item for item in items if phase_of(item) is not None]
    if checks:
        raise pytest.UsageError(
            "these are DTR upgrade checks: pass --target=HOST (your DTR) or --target=lab"
        )
