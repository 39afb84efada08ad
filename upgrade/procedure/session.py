"""The upgrade as one session runs it: executors, bootstrapper requests, log, progress, prober.

Glue between the plugin's run state and the plain procedure: it asks the session's site for
each hop's bootstrapper image and executor (the docker SDK for a real cluster and the engine
lab, the lab's bootstrapper program for the process lab), builds each hop's bootstrapper
request from the settings and the environment, writes `upgrade.log` (secrets
scrubbed), shows live progress, and samples availability for the whole phase. Neither the log
file nor the terminal can stop the bootstrapper: what could not be written is recorded in the
upgrade record (`output_problems`) and the upgrade goes on to its own end.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, BinaryIO

from upgrade.cluster.health import look, wait_healthy
from upgrade.cluster.job_logs import ERROR_LEVELS
from upgrade.errors import HarnessError
from upgrade.evidence.times import iso, utc_now
from upgrade.procedure.bootstrapper import (
    BootstrapperRequest,
    accepts_no_image_check,
    log_level,
)
from upgrade.procedure.executor import Executor
from upgrade.procedure.hop_migrations import settle_migrations
from upgrade.procedure.outages import ProbeResult
from upgrade.procedure.probe_targets import ProbeTarget, endpoint_targets
from upgrade.procedure.prober import Prober
from upgrade.procedure.procedure import Limits, UpgradeProcedure, UpgradeRecord
from upgrade.rules.versions import Version
from upgrade.terminal import OUTPUT_ERRORS, OutputProblem, describe_error

if TYPE_CHECKING:
    from pathlib import Path

    from upgrade.cluster.engine_evidence import EngineEvidence
    from upgrade.cluster.site import Site
    from upgrade.cluster.target import Target
    from upgrade.config.settings import Settings
    from upgrade.rules.catalog import Catalog
    from upgrade.rules.planner import Plan

_REPLICA = re.compile(r"\b([0-9a-f]{12})\b")
BETWEEN_HOPS_TIMEOUT_S = 600.0


class UpgradeOutput:
    """Where the upgrade's output goes: a log file (one UTC-stamped line each) and the terminal.

    Neither can raise into the upgrade. A failed write is recorded as an `OutputProblem` (the
    first error of each output and how many lines it lost since) and told once on the terminal
    while that still works. Writing goes on being tried line by line, so the log resumes where
    it stopped if space comes back; each line is one unbuffered write, so it is in the file or
    counted as lost, never held in a buffer. `terminal_failure` reports a failure of the
    terminal stream itself (the stdout guard's), which `say` never raises.
    """

    def __init__(
        self,
        open_log: Callable[[], BinaryIO],
        log_name: str,
        say: Callable[[str], None],
        terminal_failure: Callable[[], OutputProblem | None] = lambda: None,
    ) -> None:
        self._open_log = open_log
        self.log_name = log_name
        self._say = say
        self._terminal_failure = terminal_failure
        self._lock = threading.Lock()
        self._log: BinaryIO | None = None
        self._log_problem: OutputProblem | None = None
        self._log_lost = 0
        self._say_problem: OutputProblem | None = None
        self._say_lost = 0

    def open(self) -> None:
        """Open the log for appending; a failure is recorded, the lines are then counted lost."""
        try:
            log = self._open_log()
        except OUTPUT_ERRORS as exc:
            self._log_failed(exc)
            return
        with self._lock:
            self._log = log

    def log(self, text: str) -> None:
        """Append one line, stamped with the UTC time."""
        data = f"{iso(utc_now())} {text}\n".encode()
        with self._lock:
            log = self._log
            if log is None:
                if self._log_problem is not None:
                    self._log_lost += 1
                return
            try:
                _write_all(log, data)
            except OUTPUT_ERRORS as exc:
                failure = exc
            else:
                return
        self._log_failed(failure)

    def _log_failed(self, exc: BaseException) -> None:
        with self._lock:
            self._log_lost += 1
            if self._log_problem is not None:
                return
            self._log_problem = OutputProblem(self.log_name, describe_error(exc), utc_now())
        self.tell(
            f"dtr-upgrade: {self._log_problem.describe()}; the upgrade goes on, and result.json "
            "counts the log lines that could not be written"
        )

    def tell(self, text: str) -> None:
        """One line on the terminal; a failure is recorded, never raised."""
        try:
            self._say(text)
        except OUTPUT_ERRORS as exc:
            with self._lock:
                self._say_lost += 1
                if self._say_problem is None:
                    self._say_problem = OutputProblem("terminal", describe_error(exc), utc_now())

    def problems(self) -> list[OutputProblem]:
        """Every output that failed so far, each with its first error and the lines it lost."""
        found = []
        with self._lock:
            for problem, lost in (
                (self._log_problem, self._log_lost),
                (self._say_problem, self._say_lost),
            ):
                if problem is not None:
                    found.append(OutputProblem(problem.output, problem.error, problem.at, lost))
        terminal = self._terminal_failure()
        if terminal is not None:
            found.append(terminal)
        return found

    def close(self) -> None:
        """Close the log (idempotent); nothing it raises escapes."""
        with self._lock:
            log, self._log = self._log, None
        if log is not None:
            with contextlib.suppress(*OUTPUT_ERRORS):
                log.close()


def _write_all(stream: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if not written:
            raise BlockingIOError("the log accepted no bytes")
        view = view[written:]


@dataclass(frozen=True)
class UpgradeSetup:
    """What the session's upgrade works with: the settings, the connected target, the
    catalogue, the site (a real DTR or the lab: images, executors, engine evidence), where
    upgrade.log goes, how to tell the operator, and how to learn that the terminal itself
    failed."""

    settings: Settings
    target: Target
    catalog: Catalog
    log_path: Path
    say: Callable[[str], None]
    site: Site
    terminal_failure: Callable[[], OutputProblem | None] = lambda: None


class SessionUpgrade:
    """Runs the planned upgrade for a harness session and keeps what it produced: the
    procedure's record (`current`), the availability samples (`availability`) and, for the
    engine lab, the replicas' containers (`engine`)."""

    def __init__(self, setup: UpgradeSetup, planned: Plan) -> None:
        self.settings = setup.settings
        self.planned = planned
        self.target = setup.target
        self.catalog = setup.catalog
        self.site = setup.site
        self.record: UpgradeRecord | None = None
        self.availability: ProbeResult | None = None
        self.engine: EngineEvidence | None = None
        self.prober: Prober | None = None
        log = setup.log_path
        self.output = UpgradeOutput(
            lambda: log.open("ab", buffering=0),
            str(log),
            setup.say,
            terminal_failure=setup.terminal_failure,
        )
        self._began = time.monotonic()
        self._ucp_ca_pem: str | None = None
        self._procedure: UpgradeProcedure | None = None

    # -- requests and executors ---------------------------------------------------------------

    def image_for(self, version: Version) -> str:
        """The bootstrapper image of a version, as the site has it: --dtr-image or the
        catalogue's for a real DTR, the lab's for the lab."""
        return self.site.bootstrapper_image(version, self.catalog)

    def _ucp_ca(self) -> str | None:
        if self.settings.insecure_tls:
            return None
        if self._ucp_ca_pem is None:
            ca = self.target.endpoints.ucp_ca
            self._ucp_ca_pem = ca.read_text() if ca is not None else self.target.ucp().ca()
        return self._ucp_ca_pem

    def _existing_replica(self) -> str:
        if self.settings.existing_replica_id:
            return self.settings.existing_replica_id
        report = look(self.target)
        for rid in sorted(report.pings):
            if report.pings[rid].get("healthy"):
                return rid
        raise HarnessError("no healthy replica for --existing-replica-id; repair one first")

    def request_for(self, version: Version) -> BootstrapperRequest:
        """The bootstrapper request of the hop to `version`."""
        creds = self.target.ucp_credentials
        if creds is None:
            raise HarnessError("UCP credentials are missing: set UCP_USERNAME and UCP_PASSWORD")
        ca = self._ucp_ca()
        return BootstrapperRequest(
            image=self.image_for(version),
            target_version=str(version),
            ucp_url=self.target.ucp_url(),
            ucp_username=creds.username,
            ucp_password=creds.secret,
            existing_replica_id=self._existing_replica(),
            ucp_ca_pem=ca,
            ucp_insecure_tls=ca is None,
            debug=self.settings.bootstrapper_debug,
            no_image_check=self.settings.no_image_check and accepts_no_image_check(version),
        )

    def executor_for(self, version: Version) -> Executor:
        """The site's executor for the hop to `version` (the site closes it)."""
        return self.site.executor(version)

    # -- log and progress ---------------------------------------------------------------------

    def on_line(self, line: str) -> None:
        """One bootstrapper log line: into upgrade.log (scrubbed) and, if telling, the terminal."""
        text = self.target.redactor.redact(line.rstrip("\n"))
        self.output.log(text)
        if text.startswith("---"):
            return  # an attempt's separator line is for the log only
        if log_level(text) in ERROR_LEVELS or _REPLICA.search(text):
            elapsed = time.monotonic() - self._began
            self.output.tell(f"  upgrade [{elapsed:6.1f} s] {text}")

    def on_event(self, text: str) -> None:
        """A procedure event: to the terminal and upgrade.log."""
        elapsed = time.monotonic() - self._began
        text = self.target.redactor.redact(text)
        self.output.tell(f"dtr-upgrade [{elapsed:6.1f} s] {text}")
        self.output.log(f"# {text}")

    def between_hops(self, reached: Version) -> None:
        """After one hop: the cluster must be healthy again before the next one starts."""
        settled = wait_healthy(self.target, BETWEEN_HOPS_TIMEOUT_S)
        if not settled.report.healthy:
            raise HarnessError(
                f"the cluster did not become healthy within {BETWEEN_HOPS_TIMEOUT_S:g} s after "
                f"reaching {reached}: {'; '.join(settled.report.problems[:3])}"
            )
        self.on_event(f"cluster healthy on {reached} after {settled.waited_s:.1f} s")
        assert self._procedure is not None
        hop = self._procedure.record.hops[-1]
        began = hop.attempts[0].started_at if hop.attempts else None
        source = Version.parse(hop.from_version)
        settle_migrations(
            self.target.dtr(),
            self.catalog.migrations(source, reached),
            f"{hop.from_version} -> {reached}",
            began,
            BETWEEN_HOPS_TIMEOUT_S,
            self.on_event,
        )

    # -- availability -------------------------------------------------------------------------

    def probe_targets(self) -> list[ProbeTarget]:
        """The load-balanced endpoint (fresh and kept-alive, /_ping and /v2/) and every replica."""
        registry = self.target.registry()
        registry.auth_headers()
        targets = endpoint_targets(
            self.target.dtr_url,
            self.target.replica_urls(),
            registry_headers=registry.auth_headers,
        )
        # A 401 from /v2/ is an expired token (they live 60 s by default, fidelity-review.md
        # 1): the prober renews it and asks again instead of counting an outage.
        return [
            replace(t, renew=registry.renew_auth) if t.headers is not None else t for t in targets
        ]

    def start_prober(self) -> None:
        """Start sampling availability for the whole upgrade phase."""
        self.prober = Prober(
            self.probe_targets(),
            interval=self.settings.probe_interval,
            verify=self.target.dtr_verify,
            redact=self.target.redactor.redact,
        )
        self.prober.start()

    def stop_prober(self) -> ProbeResult | None:
        """Stop sampling (idempotent) and keep what it measured."""
        if self.prober is None:
            return None
        self.prober.stop()
        self.availability = self.prober.result()
        return self.availability

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> UpgradeRecord:
        """Run every hop; the record is kept also when interrupted."""
        limits = Limits(
            attempts=self.settings.upgrade_attempts,
            timeout_s=self.settings.upgrade_timeout.total_seconds(),
            backoff_s=self.settings.upgrade_backoff.total_seconds(),
        )
        procedure = self._procedure = UpgradeProcedure(
            self.executor_for,
            self.request_for,
            limits,
            on_line=self.on_line,
            on_event=self.on_event,
            between_hops=self.between_hops,
        )
        self.output.open()
        self.on_event("upgrade path: " + " -> ".join(str(v) for v in self.planned.path))
        self.start_prober()
        try:
            self.record = procedure.run(self.planned.path)
        except KeyboardInterrupt:
            self.record = procedure.record
            raise
        finally:
            self.on_event(f"upgrade {procedure.record.state}: {procedure.record.message}")
            procedure.record.output_problems = self.output.problems()
            self._record_engine()
        return self.record

    @property
    def current(self) -> UpgradeRecord:
        """The procedure's record as it stands (also while running, or after an interruption)."""
        if self._procedure is not None:
            return self._procedure.record
        return self.record or UpgradeRecord()

    def _record_engine(self) -> None:
        """What the site's engine saw (--lab-engine=docker: every replica's old and new
        containers), into the record."""
        self.engine = self.site.engine_evidence()

    def close(self) -> None:
        """Stop the prober and close upgrade.log (the site closes its executors)."""
        self.stop_prober()
        self.output.close()
