"""The harness's settings: option specifications and their resolution into one frozen value.

The plugin registers every option of `OPTIONS` on the command line (and as an ini key where it
makes sense) and resolves them once per session: command line first, then the environment
variable `DTR_UPGRADE_<NAME>`, then the ini file `dtr_<name>`, then the default. `--apply` and
`--insecure-tls` come only from the command line: a set `DTR_UPGRADE_APPLY` or
`DTR_UPGRADE_INSECURE_TLS` is refused rather than ignored, so that an exported variable can
neither turn a read-only session into an upgrade nor switch TLS verification off unseen.
Secrets are not options: they come only from the environment (see `upgrade.clients.secrets`),
never in a URL.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

from upgrade.rules.versions import Version, VersionError

LAB = "lab"
PHASES = ("all", "preflight", "post")
VULN_DB_MODES = ("auto", "online", "check")
LAB_ENGINES = ("process", "docker")

Kind = Literal["str", "flag", "int", "float", "duration", "path", "list", "csv"]


class SettingsError(ValueError):
    """An option value the harness cannot use; the message names the option and the fix."""


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
        "DTR version to upgrade to (MAJOR.MINOR.PATCH[-suffix]); without "
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
        "address of one replica as RID=URL, repeatable; default: node and "
        "HTTPS port from DTR's replicaSettings",
        kind="list",
        metavar="RID=URL",
    ),
    OptionSpec(
        "--backup",
        "DTR backup tar taken before this change (dtr backup > FILE)",
        kind="path",
        metavar="FILE",
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
        "free memory required on the node that runs the upgrade (the guide: 16 GB)",
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
        "oldest acceptable Docker engine on the nodes",
        default="18.09.0",
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
        "baseline.json of an earlier preflight bundle, compared against by --phase=post",
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
        "--lab-engine",
        "where the lab runs the upgrade: 'process' (the bootstrapper as a local program) or "
        "'docker' (replicas as containers, the bootstrapper image pulled from the lab's registry "
        "and run on the Docker engine of DOCKER_HOST; start both with scripts/engine-up)",
        default="process",
        metavar="ENGINE",
    ),
)

_SPECS = {spec.dest: spec for spec in OPTIONS}

Lookup = Callable[[OptionSpec], object]
_Number = TypeVar("_Number", int, float)


@dataclass(frozen=True)
class Window:
    """A maintenance window in UTC."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class LabOptions:
    """How to start the built-in lab when the target is `lab`."""

    scenarios: tuple[str, ...]
    replicas: int
    version: str
    ucp_version: str
    engine: str = "process"


@dataclass(frozen=True)
class Settings:
    """Every setting of one session, resolved once; never holds a secret."""

    target: str | None
    to_version: Version | None
    apply: bool
    phase: str
    ucp_url: str | None
    dtr_ca: Path | None
    ucp_ca: Path | None
    insecure_tls: bool
    replica_urls: Mapping[str, str]
    backup: Path | None
    max_backup_age: timedelta
    catalog: Path | None
    waivers: Path | None
    window: Window | None
    hosts: tuple[str, ...]
    min_free_memory_gb: float
    min_free_disk_gb: float
    min_engine_version: str
    max_clock_skew: timedelta
    min_cert_days: int
    offline: bool
    allow_multi_hop: bool
    upgrade_attempts: int
    upgrade_timeout: timedelta
    upgrade_backoff: timedelta
    dtr_image: str | None
    existing_replica_id: str | None
    bootstrapper_debug: bool
    probe_interval: float
    api_attempts: int
    settle_timeout: timedelta
    downtime_budget: timedelta
    baseline: Path | None
    change_id: str | None
    operator: str | None
    approver: str | None
    report_dir: Path
    lab: LabOptions
    raw: Mapping[str, object] = field(default_factory=dict, compare=False)
    sign_key: Path | None = None
    compare_with: str | None = None
    canary_repo: str | None = None
    retrigger_migrations: bool = False
    migration_timeout: timedelta = timedelta(minutes=30)
    update_vuln_db: str = "auto"
    vuln_db_file: Path | None = None
    vuln_db_timeout: timedelta = timedelta(minutes=30)
    expect_content_trust: bool = False

    @property
    def is_lab(self) -> bool:
        """Whether the target is the built-in lab."""
        return self.target == LAB

    @property
    def mode(self) -> Literal["health", "plan", "upgrade", "verify"]:
        """What the session does: health check, plan (GO/NO-GO), upgrade, or post-only verify."""
        if self.phase == "post":
            return "verify"
        if self.to_version is None:
            return "health"
        if self.apply:
            return "upgrade"
        return "plan"

    @property
    def target_url(self) -> str:
        """The DTR base URL (https) of a real target."""
        if self.target is None:
            raise SettingsError("--target is required")
        return normalise_url(self.target, "--target")

    def public(self) -> dict[str, object]:
        """The settings as plain JSON-able values, for result.json and the report."""
        out: dict[str, object] = {}
        for key, value in self.raw.items():
            out[key] = str(value) if isinstance(value, Path | timedelta) else value
        return out


_URL_FORM = "expected host[:port] or https://host[:port]"
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
CREDENTIALS_IN_URL = (
    "a user name or password in the address is not accepted; remove it and give credentials "
    "in the environment: DTR_USERNAME with DTR_PASSWORD or DTR_TOKEN, UCP_USERNAME with "
    "UCP_PASSWORD"
)


def normalise_url(value: str, option: str) -> str:
    """Turn host, host:port or https://host[:port] into an https base URL without a slash.

    An address with user info (`admin:secret@host`) is refused without repeating any of it, as
    is one with a path, query or fragment (the last two are not echoed either: they may hold a
    token). An IPv6 address goes in brackets: `https://[::1]:8443`.
    """
    if "@" in value:
        raise SettingsError(f"{option}: {CREDENTIALS_IN_URL}")
    text = value.strip()
    if not text:
        raise SettingsError(f"{option}: empty; {_URL_FORM}")
    if any(char.isspace() or not char.isprintable() for char in text):
        raise SettingsError(f"{option} {value!r}: contains a space or control character")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "https", text
    if scheme.lower() == "http":
        raise SettingsError(f"{option} {value!r}: DTR and UCP are only reached over https")
    if scheme.lower() != "https":
        raise SettingsError(f"{option} {value!r}: {_URL_FORM}")
    cut = min((at for at in map(rest.find, "/?#") if at >= 0), default=len(rest))
    authority, extra = rest[:cut], rest[cut:]
    shown = f"https://{authority}"
    if "?" in extra or "#" in extra:
        raise SettingsError(f"{option} {shown}...: remove the query or fragment; {_URL_FORM}")
    if extra.rstrip("/"):
        raise SettingsError(f"{option} {value!r}: remove the path {extra!r}; {_URL_FORM}")
    port = _host_and_port(authority, value, option)
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise SettingsError(f"{option} {value!r}: the port must be a number from 1 to 65535")
    return shown


def _host_and_port(authority: str, value: str, option: str) -> str | None:
    """Check the host of `authority` and return its port text (None when there is none)."""
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            bracket = ""
        if not bracket or (after and not after.startswith(":")):
            raise SettingsError(
                f"{option} {value!r}: expected an IPv6 address in brackets, e.g. https://[::1]:8443"
            )
        return after[1:] if after else None
    host, colon, port = authority.partition(":")
    if ":" in port:
        raise SettingsError(
            f"{option} {value!r}: an IPv6 address goes in brackets, e.g. https://[::1]:8443"
        )
    if not _HOSTNAME.fullmatch(host):
        raise SettingsError(f"{option} {value!r}: {_URL_FORM}")
    return port if colon else None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# far beyond any wait or age the harness needs, and far from timedelta's and datetime's limits
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: str, option: str, *, allow_zero: bool = True) -> timedelta:
    """Parse `90s`, `15m`, `24h`, `2d`, `1w` (a bare number is seconds), at most 3650 days."""
    if value.strip().startswith("-"):
        raise SettingsError(f"{option} {value!r}: a duration cannot be negative")
    match = _DURATION.match(value)
    if not match:
        raise SettingsError(f"{option} {value!r}: expected a duration such as 30s, 15m, 24h or 7d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds <= MAX_DURATION.total_seconds():
        raise SettingsError(f"{option} {value!r}: the longest duration accepted is 3650d")
    duration = timedelta(seconds=seconds)
    if not allow_zero and duration <= timedelta(0):
        raise SettingsError(f"{option} {value!r}: must be longer than zero")
    return duration


def _parse_utc(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(
            f"{option}: {text!r} is not an ISO 8601 time such as 2026-11-27T22:00Z"
        ) from None
    if moment.tzinfo is None:
        raise SettingsError(f"{option}: {text!r} has no time zone; write it in UTC with a Z")
    return moment.astimezone(UTC)


def parse_window(value: str) -> Window:
    """Parse START/END in ISO 8601 with a time zone."""
    start, sep, end = value.partition("/")
    if not sep:
        raise SettingsError(
            f"--window {value!r}: expected START/END, e.g. 2026-11-27T22:00Z/2026-11-28T02:00Z"
        )
    window = Window(_parse_utc(start, "--window"), _parse_utc(end, "--window"))
    if window.end <= window.start:
        raise SettingsError(f"--window {value!r}: the end must come after the start")
    return window


def _parse_replica_urls(values: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for item in values:
        if "@" in item:
            raise SettingsError(f"--replica-url: {CREDENTIALS_IN_URL}")
        rid, sep, url = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9a-f]{12}", rid):
            raise SettingsError(
                f"--replica-url {item!r}: expected RID=URL with a 12-hex replica ID"
            )
        urls[rid] = normalise_url(url, "--replica-url")
    return urls


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _convert(spec: OptionSpec, value: object) -> object:
    """Convert one raw option value (string from env/ini, or parsed CLI value) to its kind."""
    if value is None:
        return None
    if spec.kind == "flag":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in _TRUE + _FALSE:
            raise SettingsError(
                f"{spec.name} {value!r}: expected one of {', '.join(_TRUE + _FALSE[1:])}"
            )
        return word in _TRUE
    if spec.kind == "list":
        if isinstance(value, list):
            return [str(v) for v in value]
        return [v for v in str(value).split() if v]
    text = str(value)
    try:
        match spec.kind:
            case "int":
                return _not_negative(int(text), spec, text)
            case "float":
                return _not_negative(float(text), spec, text)
            case "duration":
                return parse_duration(text, spec.name, allow_zero=spec.allow_zero)
            case "path":
                return Path(text).expanduser()
            case "csv":
                return tuple(p.strip() for p in text.split(",") if p.strip())
            case _:
                return text
    except ValueError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"{spec.name} {text!r}: expected a {spec.kind} value") from None


def _not_negative(number: _Number, spec: OptionSpec, text: str) -> _Number:
    if number < 0 or (isinstance(number, float) and not math.isfinite(number)):
        raise SettingsError(f"{spec.name} {text!r}: expected a number of 0 or more")
    return number


def resolve(cli: Lookup, environ: Mapping[str, str], ini: Lookup | None = None) -> Settings:
    """Resolve every option once: command line, then `DTR_UPGRADE_*`, then ini, then default.

    `cli(spec)` returns the command-line value (None, False or [] when not given) and `ini(spec)`
    the ini file's `dtr_<name>` (None or "" when not set; asked only of options with an ini
    twin). An empty environment variable counts as unset. A command-line-only option
    (`--apply`, `--insecure-tls`) set in the environment is refused.
    """
    return _build({spec.dest: _convert(spec, _pick(spec, cli, environ, ini)) for spec in OPTIONS})


def _pick(spec: OptionSpec, cli: Lookup, environ: Mapping[str, str], ini: Lookup | None) -> object:
    env = environ.get(spec.env, "").strip()
    if spec.cli_only and env:
        raise SettingsError(
            f"{spec.env} is not honoured: {spec.name} must be given on the command line"
        )
    value = cli(spec)
    if _given(value):
        return value
    if env:
        return env
    if ini is not None and spec.ini:
        value = ini(spec)
        if _given(value):
            return value
    return spec.default


def _given(value: object) -> bool:
    return value is not None and value is not False and value != "" and value != []


def _build(raw: dict[str, object]) -> Settings:
    def text(key: str) -> str | None:
        value = raw[key]
        return None if value is None else str(value)

    to_version = None
    if raw["to_version"] is not None:
        try:
            to_version = Version.parse(str(raw["to_version"]))
        except VersionError as exc:
            raise SettingsError(f"--to-version: {exc}") from None

    phase = str(raw["phase"])
    if phase not in PHASES:
        raise SettingsError(f"--phase {phase!r}: expected one of {', '.join(PHASES)}")

    target = text("target")
    if target is not None and target != LAB:
        normalise_url(target, "--target")
    ucp_url = text("ucp_url")
    if ucp_url is not None:
        ucp_url = normalise_url(ucp_url, "--ucp-url")

    for key in ("dtr_ca", "ucp_ca", "catalog", "waivers", "baseline"):
        path = raw[key]
        if isinstance(path, Path) and not path.is_file():
            raise SettingsError(f"--{key.replace('_', '-')} {path}: no such file")
    for key in ("dtr_ca", "ucp_ca"):
        path = raw[key]
        if isinstance(path, Path):
            _check_ca_bundle(path, f"--{key.replace('_', '-')}")
    report_dir = _path(raw["report_dir"]) or Path("reports")
    if target is not None:
        _check_report_dir(report_dir)

    lab_version = str(raw["lab_version"])
    try:
        Version.parse(lab_version)
    except VersionError as exc:
        raise SettingsError(f"--lab-version: {exc}") from None
    replicas = raw["lab_replicas"]
    assert isinstance(replicas, int)
    lab_engine = str(raw.get("lab_engine") or "process")
    if lab_engine not in LAB_ENGINES:
        raise SettingsError(
            f"--lab-engine {lab_engine!r}: expected one of {', '.join(LAB_ENGINES)}"
        )
    if not 1 <= replicas <= 9:
        raise SettingsError(f"--lab-replicas {replicas}: the lab runs 1 to 9 replicas")

    window_text = text("window")
    min_cert_days = raw["min_cert_days"]
    assert isinstance(min_cert_days, int)
    max_backup_age = raw["max_backup_age"]
    max_clock_skew = raw["max_clock_skew"]
    assert isinstance(max_backup_age, timedelta)
    assert isinstance(max_clock_skew, timedelta)
    replica_urls = raw["replica_url"] or []
    assert isinstance(replica_urls, list)

    return Settings(
        target=target,
        to_version=to_version,
        apply=bool(raw["apply"]),
        phase=phase,
        ucp_url=ucp_url,
        dtr_ca=_path(raw["dtr_ca"]),
        ucp_ca=_path(raw["ucp_ca"]),
        insecure_tls=bool(raw["insecure_tls"]),
        replica_urls=_parse_replica_urls(replica_urls),
        backup=_path(raw["backup"]),
        max_backup_age=max_backup_age,
        catalog=_path(raw["catalog"]),
        waivers=_path(raw["waivers"]),
        window=parse_window(window_text) if window_text else None,
        hosts=_tuple(raw["hosts"]),
        min_free_memory_gb=_float(raw["min_free_memory_gb"]),
        min_free_disk_gb=_float(raw["min_free_disk_gb"]),
        min_engine_version=str(raw["min_engine_version"]),
        max_clock_skew=max_clock_skew,
        min_cert_days=min_cert_days,
        offline=bool(raw["offline"]),
        allow_multi_hop=bool(raw["allow_multi_hop"]),
        upgrade_attempts=_positive_int(raw["upgrade_attempts"], "--upgrade-attempts"),
        upgrade_timeout=_timedelta(raw["upgrade_timeout"]),
        upgrade_backoff=_timedelta(raw["upgrade_backoff"]),
        dtr_image=text("dtr_image"),
        existing_replica_id=text("existing_replica_id"),
        bootstrapper_debug=bool(raw["bootstrapper_debug"]),
        probe_interval=_interval(raw["probe_interval"]),
        api_attempts=_positive_int(raw["api_attempts"], "--api-attempts"),
        settle_timeout=_timedelta(raw["settle_timeout"]),
        downtime_budget=_timedelta(raw["downtime_budget"]),
        baseline=_path(raw["baseline"]),
        change_id=text("change_id"),
        operator=text("operator"),
        approver=text("approver"),
        report_dir=report_dir,
        sign_key=_path(raw["sign_key"]),
        compare_with=text("compare_with"),
        canary_repo=_canary_repo(text("canary_repo")),
        retrigger_migrations=bool(raw["retrigger_migrations"]),
        migration_timeout=_timedelta(raw["migration_timeout"]),
        update_vuln_db=_vuln_db_mode(str(raw["update_vuln_db"])),
        vuln_db_file=_vuln_db_file(str(raw["update_vuln_db"])),
        vuln_db_timeout=_timedelta(raw["vuln_db_timeout"]),
        expect_content_trust=bool(raw["expect_content_trust"]),
        lab=LabOptions(
            scenarios=_lab_scenarios(raw["lab_scenario"], target),
            replicas=replicas,
            version=lab_version,
            ucp_version=str(raw["lab_ucp_version"]),
            engine=lab_engine,
        ),
        raw=raw,
    )


def _check_ca_bundle(path: Path, option: str) -> None:
    """Refuse a CA file that holds no PEM certificate the TLS layer can load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:
        loaded = 0
    except OSError as exc:
        raise SettingsError(f"{option} {path}: cannot be read ({exc.strerror or exc})") from None
    else:
        loaded = context.cert_store_stats()["x509"]
    if not loaded:
        raise SettingsError(
            f"{option} {path}: not a PEM CA bundle (no -----BEGIN CERTIFICATE----- could be "
            "read); give the CA certificate that signed the server's certificate"
        )


def _check_report_dir(path: Path) -> None:
    """Refuse a report dir the session could not write its bundle into (nothing is created)."""
    try:
        if path.is_symlink() and not path.exists():
            raise SettingsError(
                f"--report-dir {path}: a symbolic link to nothing; fix or remove it"
            )
        if path.exists() and not path.is_dir():
            raise SettingsError(f"--report-dir {path}: not a directory; name a directory")
        existing = path.absolute()
        while not existing.exists():
            existing = existing.parent
    except OSError as exc:
        raise SettingsError(f"--report-dir {path}: cannot be checked ({exc.strerror})") from None
    where = "" if existing == path.absolute() else f" (its nearest existing parent {existing})"
    if not existing.is_dir():
        raise SettingsError(f"--report-dir {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SettingsError(
            f"--report-dir {path}: not writable{where}; choose a directory you can write to"
        )


def _lab_scenarios(value: object, target: str | None) -> tuple[str, ...]:
    """The lab's scenarios; with `--target=lab`, each must be a scenario the lab knows."""
    names = _tuple(value) or ("healthy",)
    if target != LAB:
        return names
    try:
        from dtrlab.scenarios import parse_scenarios
    except ImportError:  # an installation without the lab: the lab target says so itself
        return names
    try:
        parse_scenarios(names)
    except ValueError as exc:
        raise SettingsError(f"--lab-scenario: {exc}") from None
    return names


_CANARY_REPO = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*/[a-z0-9]+(?:[._-][a-z0-9]+)*")


def _canary_repo(value: str | None) -> str | None:
    if value is not None and not _CANARY_REPO.fullmatch(value):
        raise SettingsError(
            f"--canary-repo {value!r}: expected NAMESPACE/REPO in lower case, e.g. admin/canary"
        )
    return value


def _vuln_db_mode(value: str) -> str:
    return value if value in VULN_DB_MODES else "file"


def _vuln_db_file(value: str) -> Path | None:
    if value in VULN_DB_MODES:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise SettingsError(
            f"--update-vuln-db {value!r}: expected auto, online, check, or the offline "
            "vulnerability database .tar file (no such file)"
        )
    return path


def _path(value: object) -> Path | None:
    return value if isinstance(value, Path) else None


def _tuple(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, tuple | list) else ()


def _timedelta(value: object) -> timedelta:
    assert isinstance(value, timedelta)
    return value


def _positive_int(value: object, option: str) -> int:
    assert isinstance(value, int)
    if value < 1:
        raise SettingsError(f"{option} {value}: must be at least 1")
    return value


def _interval(value: object) -> float:
    interval = _float(value)
    if not 0.01 <= interval <= 10:
        raise SettingsError(f"--probe-interval {interval:g}: expected 0.01 to 10 seconds")
    return interval


def _float(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


def spec(dest: str) -> OptionSpec:
    """The specification of the option stored under `dest`."""
    return _SPECS[dest]
