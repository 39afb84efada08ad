"""The harness's settings: one frozen value per session, resolved once from the option table.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from upgrade.config.backup_option import parse_backup_option
from upgrade.config.options import OPTIONS, OptionSpec
from upgrade.config.paths import check_named_files, check_report_dir, check_vuln_db_archive
from upgrade.config.proof_mode import DEFAULT_PROOF, ProofMode, parse_proof_mode, parse_seed
from upgrade.config.values import (
    SettingsError,
    convert,
    from_environment,
    normalise_url,
    parse_canary_repo,
    parse_engine_version,
    parse_hosts,
    parse_replica_urls,
)
from upgrade.rules.versions import Version, VersionError, target_problem

LAB = "lab"
PHASES = ("all", "preflight", "post")
VULN_DB_MODES = ("auto", "online", "check")
LAB_ENGINES = ("process", "docker")

Lookup = Callable[[OptionSpec], object]


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
    token_lifetime: int = 300


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
    # None: the default of the running DTR line (upgrade.rules.engines)
    min_engine_version: str | None
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
    no_image_check: bool
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
    # --backup=take[:PATH]: take the backup in this session (`backup` is then None), into
    # PATH (a file, or a folder for the default name) or else <report-dir>/backups/.
    take_backup: bool = False
    take_backup_to: Path | None = None
    data_proof: ProofMode = DEFAULT_PROOF
    data_proof_seed: int | None = None

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


def resolve(cli: Lookup, environ: Mapping[str, str], ini: Lookup | None = None) -> Settings:
    """Resolve every option once: command line, then `DTR_UPGRADE_*`, then ini, then default.

    `cli(spec)` returns the command-line value (None, False or [] when not given) and `ini(spec)`
    the ini file's `dtr_<name>` (None or "" when not set; asked only of options with an ini
    twin). An empty environment variable counts as unset. A command-line-only option
    (`--apply`, `--insecure-tls`) set in the environment is refused.
    """
    raw: dict[str, object] = {}
    for spec in OPTIONS:
        try:
            raw[spec.dest] = convert(spec, _pick(spec, cli, environ, ini))
        except SettingsError as exc:
            raise _sourced(exc, cli, environ) from None
    try:
        return _build(raw)
    except SettingsError as exc:
        raise _sourced(exc, cli, environ) from None


def _sourced(error: SettingsError, cli: Lookup, environ: Mapping[str, str]) -> SettingsError:
    """`error` naming the environment variable when its option's value came from there."""
    for spec in OPTIONS:
        if environ.get(spec.env, "").strip() and not _given(cli(spec)):
            named = from_environment(error, spec.name, spec.env)
            if named is not error:
                return named
    return error


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
        problem = target_problem("--to-version", to_version)
        if problem is not None:
            raise SettingsError(problem)

    phase = str(raw["phase"])
    if phase not in PHASES:
        raise SettingsError(f"--phase {phase!r}: expected one of {', '.join(PHASES)}")

    target = text("target")
    if target is not None and target != LAB and target.lower().split(":", 1)[0] == LAB:
        # `LAB`, `lab:443`: a host named lab is not meant; judging it would report the DTR
        raise SettingsError(f"--target {target}: the built-in lab is --target=lab, exactly")
    if target is not None and target != LAB:
        normalise_url(target, "--target")
    ucp_url = text("ucp_url")
    if ucp_url is not None:
        ucp_url = normalise_url(ucp_url, "--ucp-url")

    check_named_files(raw)
    report_dir = _path(raw["report_dir"]) or Path("reports")
    if target is not None:
        check_report_dir(report_dir)

    lab_version = str(raw["lab_version"])
    try:
        Version.parse(lab_version)
    except VersionError as exc:
        raise SettingsError(f"--lab-version: {exc}") from None
    replicas = raw["lab_replicas"]
    assert isinstance(replicas, int)
    lab_engine = str(raw.get("lab_engine") or "process")
    token_lifetime = raw.get("lab_token_lifetime", 300)
    if not isinstance(token_lifetime, int) or not 1 <= token_lifetime <= 86400:
        raise SettingsError(
            f"--lab-token-lifetime {token_lifetime}: give whole seconds from 1 to 86400"
        )
    if lab_engine not in LAB_ENGINES:
        raise SettingsError(
            f"--lab-engine {lab_engine!r}: expected one of {', '.join(LAB_ENGINES)}"
        )
    if not 1 <= replicas <= 9:
        raise SettingsError(f"--lab-replicas {replicas}: the lab runs 1 to 9 replicas")

    window_text = text("window")
    min_cert_days = raw["min_cert_days"]
    assert isinstance(min_cert_days, int)
    backup_option = parse_backup_option(text("backup"))
    max_backup_age = raw["max_backup_age"]
    max_clock_skew = raw["max_clock_skew"]
    assert isinstance(max_backup_age, timedelta)
    assert isinstance(max_clock_skew, timedelta)
    replica_urls = raw["replica_url"] or []
    assert isinstance(replica_urls, list)
    if replica_urls and target == LAB:
        raise SettingsError(
            "--replica-url: the lab hands the session its replicas' addresses itself; drop "
            "--replica-url with --target=lab (it is for a real DTR's replicas)"
        )

    return Settings(
        target=target,
        to_version=to_version,
        apply=bool(raw["apply"]),
        phase=phase,
        ucp_url=ucp_url,
        dtr_ca=_path(raw["dtr_ca"]),
        ucp_ca=_path(raw["ucp_ca"]),
        insecure_tls=bool(raw["insecure_tls"]),
        replica_urls=parse_replica_urls(replica_urls),
        backup=backup_option.given,
        max_backup_age=max_backup_age,
        catalog=_path(raw["catalog"]),
        waivers=_path(raw["waivers"]),
        window=parse_window(window_text) if window_text else None,
        hosts=parse_hosts(_tuple(raw["hosts"])),
        min_free_memory_gb=_float(raw["min_free_memory_gb"]),
        min_free_disk_gb=_float(raw["min_free_disk_gb"]),
        min_engine_version=parse_engine_version(text("min_engine_version")),
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
        no_image_check=bool(raw["no_image_check"]),
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
        canary_repo=parse_canary_repo(text("canary_repo")),
        retrigger_migrations=bool(raw["retrigger_migrations"]),
        migration_timeout=_timedelta(raw["migration_timeout"]),
        update_vuln_db=_vuln_db_mode(str(raw["update_vuln_db"])),
        vuln_db_file=_vuln_db_file(str(raw["update_vuln_db"])),
        vuln_db_timeout=_timedelta(raw["vuln_db_timeout"]),
        expect_content_trust=bool(raw["expect_content_trust"]),
        take_backup=backup_option.take,
        take_backup_to=backup_option.to,
        data_proof=parse_proof_mode(text("data_proof")),
        data_proof_seed=parse_seed(text("data_proof_seed")),
        lab=LabOptions(
            scenarios=_lab_scenarios(raw["lab_scenario"], target, lab_engine),
            replicas=replicas,
            version=lab_version,
            ucp_version=str(raw["lab_ucp_version"]),
            engine=lab_engine,
            token_lifetime=token_lifetime,
        ),
        raw=raw,
    )


def _lab_scenarios(value: object, target: str | None, engine: str) -> tuple[str, ...]:
    """The lab's scenarios; with `--target=lab`, each must be a scenario the lab knows, and
    one the lab of `--lab-engine` can show."""
    names = _tuple(value) or ("healthy",)
    if target != LAB:
        return names
    try:
        from dtrlab.scenarios import parse_scenarios, refuse_on_engine
    except ImportError:  # an installation without the lab: the lab target says so itself
        return names
    try:
        parsed = parse_scenarios(names)
    except ValueError as exc:
        raise SettingsError(f"--lab-scenario: {exc}") from None
    try:
        refuse_on_engine(parsed, engine)
    except ValueError as exc:
        raise SettingsError(
            f"--lab-scenario with --lab-engine={engine}: {exc}; run it without --lab-engine"
        ) from None
    return names


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
    check_vuln_db_archive(path)
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
