"""The option table: one definition per harness option.

Each `OptionSpec` of `OPTIONS` is the one place an option is defined: its command-line flag, its
environment variable `DTR_UPGRADE_<NAME>`, whether it has an ini twin `dtr_<name>`, its default,
its kind (which names the parser `upgrade.config.values.convert` applies) and its help text. The
plugin registers the table; `upgrade.config.settings` resolves it into the session's `Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "flag", "int", "float", "duration", "path", "list", "csv"]


@dataclass(frozen=True)
class OptionSpec:
    """One harness option: its command-line name, help text, kind and default."""

    name: str
    help: str
    kind: Kind = "str"
    default: str | None = None
    ini: bool = True
    metavar: str | None = None
    # False for options another installed plugin already defines (testinfra's --hosts)
    register: bool = True
    # True for flags that change the cluster or its safety: neither environment nor ini sets them
    cli_only: bool = False
    # for durations: whether zero is a meaningful value (no wait, no interruption allowed)
    allow_zero: bool = False

    @property
    def dest(self) -> str:
        """The attribute name pytest stores the option under."""
        return self.name.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable that is this option's second source."""
        return "DTR_UPGRADE_" + self.dest.upper()


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "--target",
        "DTR load-balanced address (host[:port] or https://host[:port]), "
        "or 'lab' for the built-in simulated cluster",
        metavar="HOST",
    ),
    OptionSpec(
        "--to-version",
        "DTR release to upgrade to (MAJOR.MINOR.PATCH: no build or pre-release suffix); without "
        "it the session is a read-only health check",
        metavar="VERSION",
    ),
    OptionSpec(
        "--apply",
        "run the upgrade when every preflight check passed (otherwise the session is read-only)",
        kind="flag",
        ini=False,
        cli_only=True,
    ),
    OptionSpec(
        "--phase",
        "which phases to run: all, preflight, or post (verify an upgrade done by hand)",
        default="all",
        metavar="PHASE",
    ),
    OptionSpec(
        "--ucp-url",
        "UCP/MKE address; default: the ucpHost DTR reports in its features",
        metavar="URL",
    ),
    OptionSpec(
        "--dtr-ca", "CA bundle (PEM) that signed DTR's certificate", kind="path", metavar="FILE"
    ),
    OptionSpec(
        "--ucp-ca", "CA bundle (PEM) that signed UCP's certificate", kind="path", metavar="FILE"
    ),
    OptionSpec(
        "--insecure-tls",
        "do not verify TLS certificates (shown in the report; exposes "
        "credentials to a man in the middle)",
        kind="flag",
        ini=False,
        cli_only=True,
    ),
    OptionSpec(
        "--replica-url",
        "address of one replica as RID=URL, repeatable (overrides that replica's "
        "address only: the replicas are those DTR lists); default: node and "
        "HTTPS port from DTR's replicaSettings, with UCP's address for a node name "
        "that does not resolve here",
        kind="list",
        metavar="RID=URL",
    ),
    OptionSpec(
        "--backup",
        "DTR backup tar taken before this change (dtr backup > FILE), or 'take' / "
        "'take:PATH' to run the bootstrapper's backup before preflight judges it "
        "(default PATH: <report-dir>/backups/)",
        metavar="FILE|take[:PATH]",
    ),
    OptionSpec(
        "--max-backup-age",
        "oldest acceptable backup, e.g. 24h, 90m, 2d",
        kind="duration",
        default="24h",
        metavar="AGE",
    ),
    OptionSpec(
        "--catalog",
        "a release catalogue (TOML) that extends or overrides the shipped one",
        kind="path",
        metavar="FILE",
    ),
    OptionSpec(
        "--waivers",
        "waiver file (YAML or TOML): check id, reason, approver, expiry",
        kind="path",
        metavar="FILE",
    ),
    OptionSpec(
        "--window",
        "maintenance window as START/END in ISO 8601 UTC, e.g. 2026-11-27T22:00Z/2026-11-28T02:00Z",
        metavar="START/END",
    ),
    OptionSpec(
        "--hosts",
        "testinfra host specs of the DTR nodes, comma separated (e.g. "
        "ssh://node1,ssh://node2, local://); the first runs the upgrade",
        kind="csv",
        metavar="SPECS",
        register=False,
    ),
    OptionSpec(
        "--min-free-memory-gb",
        "RAM (MemTotal, GB of 10^9 bytes) the node that runs the bootstrapper must have (the "
        "guide's system requirements: 16 GB)",
        kind="float",
        default="16",
        metavar="GB",
    ),
    OptionSpec(
        "--min-free-disk-gb",
        "free disk required under /var/lib/docker on every node",
        kind="float",
        default="10",
        metavar="GB",
    ),
    OptionSpec(
        "--min-engine-version",
        "oldest acceptable Docker engine on the nodes (default: the engine of the running DTR "
        "line's bundle, 17.06 for DTR 2.3-2.5, 18.09 for 2.6, 19.03 for 2.7/2.8, 20.10 for 2.9, "
        "23.0 for 2.10)",
        metavar="VERSION",
    ),
    OptionSpec(
        "--max-clock-skew",
        "largest acceptable clock difference between the nodes and this machine",
        kind="duration",
        default="2s",
        metavar="DURATION",
    ),
    OptionSpec(
        "--min-cert-days",
        "fewest days a certificate must still be valid",
        kind="int",
        default="14",
        metavar="DAYS",
    ),
    OptionSpec(
        "--offline",
        "the nodes have no internet: the bootstrapper image must already be "
        "present (docker load) instead of pulled",
        kind="flag",
        ini=False,
    ),
    OptionSpec(
        "--allow-multi-hop",
        "run every hop of a multi-hop plan (e.g. 2.4 -> 2.5 -> 2.6) "
        "with a health gate between hops; without it such a plan is NO-GO",
        kind="flag",
        ini=False,
    ),
    OptionSpec(
        "--upgrade-attempts",
        "how many times to run the bootstrapper per hop (a re-run resumes a failed upgrade)",
        kind="int",
        default="3",
        metavar="N",
    ),
    OptionSpec(
        "--upgrade-timeout",
        "bound on the whole upgrade, e.g. 60m",
        kind="duration",
        default="60m",
        metavar="DURATION",
    ),
    OptionSpec(
        "--upgrade-backoff",
        "wait before the first re-run (doubles, capped at 60 s)",
        kind="duration",
        allow_zero=True,
        default="10s",
        metavar="DURATION",
    ),
    OptionSpec(
        "--dtr-image",
        "bootstrapper image repository to use instead of the catalogue's "
        "(e.g. registry.local/docker/dtr); the tag is the target version",
        metavar="REPOSITORY",
    ),
    OptionSpec(
        "--existing-replica-id",
        "healthy replica the bootstrapper connects to; default: the first healthy replica",
        metavar="RID",
    ),
    OptionSpec("--bootstrapper-debug", "pass --debug to the bootstrapper", kind="flag", ini=False),
    OptionSpec(
        "--no-image-check",
        "pass --no-image-check to a DTR 2.6 bootstrapper, which then skips its check for "
        "manifest schema v1 images (reference/dtr/2.6/cli/upgrade.md; other versions lack it)",
        kind="flag",
        ini=False,
    ),
    OptionSpec(
        "--probe-interval",
        "seconds between availability samples during the upgrade",
        kind="float",
        default="0.1",
        metavar="SECONDS",
    ),
    OptionSpec(
        "--api-attempts",
        "attempts per idempotent API call on connection errors and 5xx answers (with backoff)",
        kind="int",
        default="4",
        metavar="N",
    ),
    OptionSpec(
        "--settle-timeout",
        "how long post checks wait for the cluster to become healthy after the upgrade",
        kind="duration",
        allow_zero=True,
        default="120s",
        metavar="DURATION",
    ),
    OptionSpec(
        "--downtime-budget",
        "longest acceptable interruption of the load-balanced endpoint during the upgrade",
        kind="duration",
        allow_zero=True,
        default="5s",
        metavar="DURATION",
    ),
    OptionSpec(
        "--canary-repo",
        "an existing repository (NAMESPACE/REPO) the DTR account may push to: post checks push "
        "a tiny image there, pull it back by digest, verify it and delete its tag",
        metavar="NS/REPO",
    ),
    OptionSpec(
        "--data-proof",
        "prove the data plane through the registry API in preflight and post: full (every "
        "tag's manifest and blob), sample:N (N manifests drawn at random, with every blob "
        "they reference) or off",
        default="sample:1000",
        metavar="full|sample:N|off",
    ),
    OptionSpec(
        "--data-proof-seed",
        "the seed of the data proof's sample (the evidence shows each proof's seed; the same "
        "seed over the same tags draws the same sample); default: a new one per session",
        kind="int",
        metavar="N",
    ),
    OptionSpec(
        "--retrigger-migrations",
        "when a hop's migration job failed all its attempts, re-trigger it once with "
        "POST /api/v0/jobs (the guide's remedy) instead of only printing the request",
        kind="flag",
        ini=False,
    ),
    OptionSpec(
        "--migration-timeout",
        "how long post checks wait for a hop's migration job (retries and re-trigger included)",
        kind="duration",
        allow_zero=True,
        default="30m",
        metavar="DURATION",
    ),
    OptionSpec(
        "--update-vuln-db",
        "vulnerability database after the upgrade: auto (update online when this session "
        "upgraded and scanning syncs online, else check), online, check, or a .tar FILE to "
        "upload as the offline database",
        default="auto",
        metavar="auto|online|check|FILE",
    ),
    OptionSpec(
        "--vuln-db-timeout",
        "how long to follow a triggered vulnerability database update job",
        kind="duration",
        allow_zero=True,
        default="30m",
        metavar="DURATION",
    ),
    OptionSpec(
        "--expect-content-trust",
        "the change turns UCP content trust back on after the upgrade: post checks verify "
        "require_content_trust is true again",
        kind="flag",
        ini=False,
    ),
    OptionSpec(
        "--baseline",
        "baseline.json of an earlier preflight bundle of this DTR, as sealed (its SHA256SUMS "
        "must match), compared against by --phase=post only (one of another cluster fails "
        "POST-BASELINE-MATCH)",
        kind="path",
        metavar="FILE",
    ),
    OptionSpec("--change-id", "change request identifier, shown in the report", metavar="ID"),
    OptionSpec("--operator", "who runs the change, shown in the report", metavar="NAME"),
    OptionSpec("--approver", "who approved the change, shown in the report", metavar="NAME"),
    OptionSpec(
        "--sign-key",
        "SSH private key (or its .pub with the key in ssh-agent) that signs the bundle's "
        "SHA256SUMS (ssh-keygen -Y sign, namespace dtr-upgrade-bundle)",
        kind="path",
        metavar="FILE",
    ),
    OptionSpec(
        "--compare-with",
        "an earlier bundle folder, or 'latest', whose phase durations, longest outage and "
        "failed checks the report shows beside this run's",
        metavar="DIR",
    ),
    OptionSpec(
        "--report-dir",
        "where evidence bundles are written",
        kind="path",
        default="reports",
        metavar="DIR",
    ),
    OptionSpec(
        "--lab-scenario",
        "lab fault scenarios, comma separated (see 'dtr-upgrade lab --help')",
        kind="csv",
        default="healthy",
        metavar="NAMES",
    ),
    OptionSpec("--lab-replicas", "number of lab replicas", kind="int", default="3", metavar="N"),
    OptionSpec(
        "--lab-version", "DTR version the lab starts on", default="2.5.11", metavar="VERSION"
    ),
    OptionSpec(
        "--lab-ucp-version", "UCP version the lab reports", default="3.1.6", metavar="VERSION"
    ),
    OptionSpec(
        "--lab-token-lifetime",
        "seconds the lab's registry bearer tokens are valid (real ones are short-lived: "
        "distribution's default is 60 s)",
        kind="int",
        default="300",
        metavar="SECONDS",
    ),
    OptionSpec(
        "--lab-engine",
        "where the lab runs the upgrade: 'process' (the bootstrapper as a local program) or "
        "'docker' (replicas as containers, the bootstrapper image pulled from the lab's registry "
        "and run on the Docker engine of DOCKER_HOST; start both with scripts/engine-up)",
        default="process",
        metavar="ENGINE",
    ),
)

_SPECS = {spec.dest: spec for spec in OPTIONS}


def spec(dest: str) -> OptionSpec:
    """The specification of the option stored under `dest`."""
    return _SPECS[dest]
