"""The upgrade as one session runs it: executors, bootstrapper requests, log, progress, prober.

Glue between the plugin's run state and the plain procedure: it chooses the executor (the
docker SDK for a real cluster, the lab's bootstrapper program for the lab), builds each hop's
bootstrapper request from the settings and the environment, writes `upgrade.log` (secrets
scrubbed), shows live progress, and samples availability for the whole phase.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from upgrade.errors import HarnessError
from upgrade.evidence import iso, utc_now
from upgrade.executor import (
    BootstrapperRequest,
    DockerExecutor,
    Executor,
    SubprocessExecutor,
)
from upgrade.health import look, wait_healthy
from upgrade.images import bootstrapper_image
from upgrade.jobs import wait_for_chain
from upgrade.prober import Prober, ProbeTarget, endpoint_targets
from upgrade.procedure import Limits, UpgradeProcedure, UpgradeRecord
from upgrade.versions import Version

if TYPE_CHECKING:
    from upgrade.planner import Plan
    from upgrade.plugin import Harness

_REPLICA = re.compile(r"\b([0-9a-f]{12})\b")
BETWEEN_HOPS_TIMEOUT_S = 600.0


class SessionUpgrade:
    """Runs the planned upgrade for a harness session and keeps what it produced."""

    def __init__(self, harness: Harness, planned: Plan) -> None:
        self.harness = harness
        self.settings = harness.settings
        self.planned = planned
        self.target = harness.target()
        self.record: UpgradeRecord | None = None
        self.prober: Prober | None = None
        self._log: TextIO | None = None
        self._log_lock = threading.Lock()
        self._began = time.monotonic()
        self._attempt_label = ""
        self._ucp_ca_pem: str | None = None
        self._docker: DockerExecutor | None = None
        self._procedure: UpgradeProcedure | None = None

    # -- requests and executors ---------------------------------------------------------------

    def image_for(self, version: Version) -> str:
        """The bootstrapper image of a version: --dtr-image, the lab's, or the catalogue's."""
        if self.settings.is_lab:
            if self.settings.lab.engine == "docker":
                return str(self.harness.lab.bootstrapper_image(str(version)))
            return f"dtrlab/dtr:{version}"
        return bootstrapper_image(version, self.harness.catalog(), self.settings.dtr_image)

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
        )

    def executor_for(self, version: Version) -> Executor:
        """The lab's bootstrapper program for the lab; one docker SDK executor otherwise."""
        lab = self.harness.lab
        engine_lab = lab is not None and self.settings.lab.engine == "docker"
        if lab is not None and not engine_lab:
            return SubprocessExecutor(lab.bootstrapper_argv(str(version)))
        if self._docker is None:
            # The engine lab's UCP listens on the host's loopback only.
            network = "host" if engine_lab else None
            self._docker = DockerExecutor(offline=self.settings.offline, network_mode=network)
        return self._docker

    # -- log and progress ---------------------------------------------------------------------

    def _open_log(self) -> None:
        path: Path = self.harness.bundle.file("upgrade.log")
        self._log = path.open("a", encoding="utf-8")

    def on_line(self, line: str) -> None:
        """One bootstrapper log line: into upgrade.log (scrubbed) and, if telling, the terminal."""
        text = self.target.redactor.redact(line.rstrip("\n"))
        with self._log_lock:
            if self._log is not None:
                self._log.write(f"{iso(utc_now())} {text}\n")
                self._log.flush()
        if text.startswith("---"):
            self._attempt_label = text.strip("- ")
            return
        if "FATA" in text or "ERRO" in text or "level=fatal" in text or _REPLICA.search(text):
            elapsed = time.monotonic() - self._began
            self.harness.say(f"  upgrade [{elapsed:6.1f} s] {text}")

    def on_event(self, text: str) -> None:
        """A procedure event: to the terminal and upgrade.log."""
        elapsed = time.monotonic() - self._began
        self.harness.say(f"dtr-upgrade [{elapsed:6.1f} s] {self.target.redactor.redact(text)}")
        with self._log_lock:
            if self._log is not None:
                self._log.write(f"{iso(utc_now())} # {text}\n")
                self._log.flush()

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
        for migration in self.harness.catalog().migrations(source, reached):
            # The next hop must not start while this hop's data migration still runs.
            chain = wait_for_chain(
                self.target.dtr(),
                migration.job,
                began,
                BETWEEN_HOPS_TIMEOUT_S,
                option="the between-hops wait",
            )
            if chain is not None and not chain.done:
                raise HarnessError(
                    f"the {migration.job} job of {hop.from_version} -> {reached} ended "
                    f"{chain.latest.status}; resolve it before the next hop"
                )
            state = "no job appeared" if chain is None else "done"
            self.on_event(f"{migration.job} after {hop.from_version} -> {reached}: {state}")

    # -- availability -------------------------------------------------------------------------

    def probe_targets(self) -> list[ProbeTarget]:
        """The load-balanced endpoint (fresh and kept-alive, /_ping and /v2/) and every replica."""
        registry = self.target.registry()
        registry.auth_headers()
        return endpoint_targets(
            self.target.dtr_url,
            self.target.replica_urls(),
            registry_headers=registry.auth_headers,
        )

    def start_prober(self) -> None:
        """Start sampling availability for the whole upgrade phase."""
        self.prober = Prober(
            self.probe_targets(),
            interval=self.settings.probe_interval,
            verify=self.target.dtr_verify,
            redact=self.target.redactor.redact,
        )
        self.prober.start()

    def stop_prober(self) -> dict[str, Any] | None:
        """Stop sampling (idempotent) and store the availability record."""
        if self.prober is None:
            return None
        self.prober.stop()
        result = self.prober.result().as_dict()
        self.harness.session_record.extra["availability"] = result
        return result

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
        self._open_log()
        self.on_event("upgrade path: " + " -> ".join(str(v) for v in self.planned.path))
        self.start_prober()
        try:
            self.record = procedure.run(self.planned.path)
        except KeyboardInterrupt:
            self.record = procedure.record
            self.harness.upgrade_state = "interrupted"
            self.harness.upgrade_message = procedure.record.message
            raise
        finally:
            self.harness.session_record.extra["upgrade"] = procedure.record.as_dict()
            self._record_engine()
            self.on_event(f"upgrade {procedure.record.state}: {procedure.record.message}")
        return self.record

    def _record_engine(self) -> None:
        """With --lab-engine=docker: every replica's old and new containers, into the record."""
        if self.harness.lab is None or self.settings.lab.engine != "docker":
            return
        from upgrade import labtarget

        evidence = labtarget.engine_evidence(self.harness.lab)
        if evidence is not None:
            self.harness.session_record.extra["engine"] = evidence

    def close(self) -> None:
        """Stop the prober and close what was opened."""
        self.stop_prober()
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None
        if self._docker is not None:
            self._docker.close()
