"""The run state of one harness session: its settings, waivers, records, bundle, target and
upgrade, and the verdict once it is decided.

`Harness` is made at configure (when a target is given) and kept in `config.stash[harness_key]`;
it is the one writer of the session's state. It implements no hook: the hooks that fill it are
`upgrade.plugin.collection` (which checks run, their records), `check_runs` (the gate, each
outcome), `session_end` (verdict, sealing) and `terminal_lines`; fixtures and the report read it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from upgrade.cluster.site import Site, site_for
from upgrade.config.settings import Settings
from upgrade.config.waivers import Waivers
from upgrade.errors import HarnessError
from upgrade.evidence import integrity
from upgrade.evidence.bundle import Bundle
from upgrade.evidence.records import CheckRecord, SessionRecord
from upgrade.plugin.gate import gate_problem
from upgrade.plugin.signals import SignalGuard
from upgrade.rules import verdict as verdicts

if TYPE_CHECKING:
    from upgrade.cluster.nodes import NodeFacts
    from upgrade.cluster.target import Target
    from upgrade.procedure.lock import HeldLock
    from upgrade.procedure.procedure import UpgradeRecord
    from upgrade.procedure.session import SessionUpgrade
    from upgrade.rules.catalog import Catalog
    from upgrade.rules.planner import Plan
    from upgrade.rules.versions import Version

harness_key = pytest.StashKey["Harness"]()


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
        self.collect_errors: list[dict[str, str]] = []
        self.upgrade_lock: HeldLock | None = None
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
        catalog = self.catalog()
        planned = plan(current, self.settings.to_version, catalog)
        if planned.image:
            # The image this site runs for the target (the lab's, --dtr-image's), not only the
            # catalogue's: the evidence and the report name what an upgrade here would pull.
            planned = replace(planned, image=self.site.bootstrapper_image(planned.target, catalog))
        self.session_record.planned_image = planned.image
        return planned

    def run_upgrade(self, current: Version) -> UpgradeRecord:
        """Run the planned upgrade with the bootstrapper; record it and return the record."""
        assert self.settings.to_version is not None
        closed = gate_problem(self.outcomes())
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
            # A stop that lands after the procedure ended (while its record is being
            # completed) does not undo the upgrade's outcome: the verdict must still say
            # that the upgrade completed (and give the --phase=post command) or failed.
            finished = runner.current.state
            self.upgrade_state = finished if finished in ("passed", "failed") else "interrupted"
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
        """Stop the prober, end the worker processes, close the clients and the site (its
        executors, the lab)."""
        if "upgrade.cluster.worker_pool" in sys.modules:
            from upgrade.cluster.worker_pool import close_pool

            close_pool()
        if self.upgrade_runner is not None:
            self.stop_prober()
            self.upgrade_runner.close()
        if self._target is not None:
            self._target.close()
        self.site.close()

    def node_facts(self, spec: str) -> NodeFacts:
        """The facts of one --hosts node, read once per session."""
        from upgrade.cluster.nodes import gather

        if spec not in self._node_facts:
            self._node_facts[spec] = gather(spec)
        return self._node_facts[spec]

    def outcomes(self) -> list[verdicts.Outcome]:
        """Every recorded check outcome, for the gate and the verdict."""
        return [
            verdicts.Outcome(r.check_id, r.phase, r.outcome, r.message, tuple(r.notes))
            for r in self.records.values()
        ]

    def bundle_problem(self, exc: OSError) -> None:
        """Record a write failure of the bundle: one line naming the path and the cause."""
        where = str(exc.filename or "a report file").removeprefix(f"{self.bundle.path}/")
        self.session_record.bundle_problems.append(f"{where}: {exc.strerror or exc}")
