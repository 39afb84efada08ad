"""Settings resolution: precedence of the sources, command-line-only flags, and bad values."""

from __future__ import annotations

import itertools
import os
import ssl
import tarfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
import trustme

from dtrlab.scenarios import SCENARIOS
from upgrade.config.options import OPTIONS, OptionSpec, spec
from upgrade.config.settings import Settings, resolve
from upgrade.config.values import SettingsError, normalise_url

SECRET = "S3cr3t-Pa55word"
THREE_SOURCES = [option for option in OPTIONS if option.ini]
DURATIONS = [option for option in OPTIONS if option.kind == "duration"]
CREDENTIAL_VARIABLES = ("DTR_USERNAME", "DTR_PASSWORD", "DTR_TOKEN", "UCP_USERNAME", "UCP_PASSWORD")


def settle(
    cli: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    ini: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve with fake sources: `cli` and `ini` by option dest, `env` by variable name."""
    given = dict(cli or {})
    written = dict(ini or {})

    def from_cli(option: OptionSpec) -> object:
        if option.dest in given:
            return given[option.dest]
        return {"flag": False, "list": []}.get(option.kind)

    def from_ini(option: OptionSpec) -> object:
        return written.get(option.dest)

    return resolve(from_cli, dict(env or {}), ini=from_ini)


def refusal(**sources: Mapping[str, object]) -> str:
    """The one-line message of the SettingsError that resolving these sources raises."""
    with pytest.raises(SettingsError) as caught:
        settle(**sources)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    # A value from the environment is named by its variable first (test_settings_messages.py
    # tests that prefix); the rest of the message is what these tests read.
    for variable in sources.get("env", {}):
        message = message.removeprefix(f"{variable} (environment) / ")
    return message


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three CA bundles, each holding one PEM certificate."""
    folder = tmp_path_factory.mktemp("cas")
    paths = [folder / f"{source}-ca.pem" for source in ("cli", "env", "ini")]
    for path in paths:
        trustme.CA().cert_pem.write_to_path(str(path))
    return paths


@pytest.fixture(scope="module")
def samples(
    pem_files: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[OptionSpec], list[tuple[str, object]]]:
    """Three valid values (text, resolved raw value) per option: for cli, env and ini."""
    folder = tmp_path_factory.mktemp("files")
    files = []
    for source in ("cli", "env", "ini"):
        path = folder / f"{source}.tar"
        with tarfile.open(path, "w") as archive:  # --update-vuln-db FILE must be a tar
            member = folder / source
            member.write_text(source)
            archive.add(member, arcname=source)
        files.append(path)
    windows = [
        "2026-11-27T22:00Z/2026-11-28T02:00Z",
        "2026-12-01T22:00Z/2026-12-02T02:00Z",
        "2027-01-05T22:00Z/2027-01-06T02:00Z",
    ]
    by_dest: dict[str, list[str]] = {
        "to_version": ["2.6.4", "2.6.0", "2.5.11"],
        "phase": ["post", "preflight", "post"],  # only two values differ from the default
        "ucp_url": ["https://ucp-cli.example", "ucp-env.example:8443", "https://[::1]:9443"],
        "dtr_ca": [str(p) for p in pem_files],
        "ucp_ca": [str(p) for p in pem_files],
        "catalog": [str(p) for p in files],
        "waivers": [str(p) for p in files],
        "baseline": [str(p) for p in files],
        "window": windows,
        "lab_version": ["2.6.0", "2.5.0", "2.4.3"],
        "lab_engine": ["docker", "process", "docker"],  # one value differs from the default
        "lab_replicas": ["5", "1", "7"],
        "canary_repo": ["ns/from-cli", "ns/from-env", "ns/from-ini"],
        "data_proof": ["full", "off", "sample:5"],
        "update_vuln_db": ["online", "check", str(files[2])],
        "probe_interval": ["0.3", "0.2", "0.5"],
        "min_engine_version": ["19.03", "20.10.24", "23.0"],
        "lab_scenario": ["no-backup", "gc-running,stale-backup", "data-loss"],
    }
    by_kind: dict[str, list[str]] = {
        "str": ["from-cli", "from-env", "from-ini"],
        "int": ["5", "6", "7"],
        "float": ["1.5", "2.5", "3.5"],
        "duration": ["90s", "15m", "2h"],
        "path": ["cli/path", "env/path", "ini/path"],
        "csv": ["ssh://a,ssh://b", "ssh://c", "local://"],
        "list": [
            "0123456789ab=https://replica-cli.example",
            "0123456789ab=replica-env.example:8443",
            "0123456789ab=https://replica-ini.example ba9876543210=replica-two.example",
        ],
    }
    durations = [timedelta(seconds=90), timedelta(minutes=15), timedelta(hours=2)]

    def expected(option: OptionSpec, text: str, index: int) -> object:
        match option.kind:
            case "int":
                return int(text)
            case "float":
                return float(text)
            case "duration":
                return durations[index]
            case "path":
                return Path(text)
            case "csv":
                return tuple(text.split(","))
            case "list":
                return text.split()
            case _:
                return text

    def values(option: OptionSpec) -> list[tuple[str, object]]:
        texts = by_dest.get(option.dest) or by_kind[option.kind]
        return [(text, expected(option, text, i)) for i, text in enumerate(texts)]

    return values


@pytest.mark.parametrize("option", THREE_SOURCES, ids=[o.name for o in THREE_SOURCES])
@pytest.mark.parametrize(
    "given",
    [combo for size in range(4) for combo in itertools.combinations(("cli", "env", "ini"), size)],
    ids="+".join,
)
def test_command_line_beats_environment_beats_ini_beats_default(
    option: OptionSpec,
    given: tuple[str, ...],
    samples: Callable[[OptionSpec], list[tuple[str, object]]],
) -> None:
    (cli_text, cli_value), (env_text, env_value), (ini_text, ini_value) = samples(option)
    cli = {option.dest: [cli_text] if option.kind == "list" else cli_text} if "cli" in given else {}
    env = {option.env: env_text} if "env" in given else {}
    ini = {option.dest: ini_text} if "ini" in given else {}
    if option.kind == "list":
        cli_value = [cli_text]

    got = settle(cli, env, ini).raw[option.dest]

    if "cli" in given:
        assert got == cli_value
    elif "env" in given:
        assert got == env_value
    elif "ini" in given:
        assert got == ini_value
    else:
        default = settle({option.dest: option.default}).raw[option.dest] if option.default else None
        assert got == default


def test_samples_tell_every_pair_of_sources_apart(
    samples: Callable[[OptionSpec], list[tuple[str, object]]],
) -> None:
    """Guards the test above: each source's sample differs from the next one down."""
    for option in THREE_SOURCES:
        (_, cli_value), (_, env_value), (_, ini_value) = samples(option)
        default = settle({option.dest: option.default}).raw[option.dest] if option.default else None
        assert cli_value != env_value, option.name
        assert env_value != ini_value, option.name
        assert ini_value != default, option.name


def test_issue_example_environment_beats_ini() -> None:
    settings = settle(env={"DTR_UPGRADE_PROBE_INTERVAL": "0.2"}, ini={"probe_interval": "0.5"})
    assert settings.probe_interval == 0.2


def test_empty_environment_variable_counts_as_unset() -> None:
    settings = settle(env={"DTR_UPGRADE_PROBE_INTERVAL": " "}, ini={"probe_interval": "0.5"})
    assert settings.probe_interval == 0.5


def test_resolve_without_ini_lookup_reads_command_line_and_environment() -> None:
    settings = resolve(lambda option: None, {"DTR_UPGRADE_OPERATOR": "j.doe"})
    assert settings.operator == "j.doe"
    assert settings.probe_interval == 0.1


@pytest.mark.parametrize(
    ("dest", "name"), [("apply", "--apply"), ("insecure_tls", "--insecure-tls")]
)
@pytest.mark.parametrize("value", ["1", "true", "0", "no"])
def test_command_line_only_flag_in_environment_is_refused(dest: str, name: str, value: str) -> None:
    variable = spec(dest).env
    message = refusal(
        env={variable: value}, cli={"target": "dtr.example.com", "to_version": "2.6.4"}
    )
    assert message == f"{variable} is not honoured: {name} must be given on the command line"
    # also when the command line gives the flag: the exported variable must go
    assert refusal(env={variable: value}, cli={dest: True})


def test_apply_and_insecure_tls_come_from_the_command_line() -> None:
    settings = settle(cli={"target": "dtr.example.com", "to_version": "2.6.4", "apply": True})
    assert settings.apply
    assert settings.mode == "upgrade"
    assert settle(cli={"insecure_tls": True}).insecure_tls
    unset = settle(env={"DTR_UPGRADE_APPLY": "", "DTR_UPGRADE_INSECURE_TLS": ""})
    assert not unset.apply
    assert not unset.insecure_tls


def test_apply_and_insecure_tls_have_no_ini_twin() -> None:
    assert not spec("apply").ini
    assert not spec("insecure_tls").ini
    settings = settle(ini={"apply": "true", "insecure_tls": "true"})
    assert not settings.apply
    assert not settings.insecure_tls


def test_other_flags_still_read_the_environment() -> None:
    assert settle(env={"DTR_UPGRADE_OFFLINE": "yes"}).offline
    assert not settle(env={"DTR_UPGRADE_OFFLINE": "off"}).offline


def test_flag_word_that_is_neither_true_nor_false_is_refused() -> None:
    message = refusal(env={"DTR_UPGRADE_OFFLINE": "maybe"})
    assert message.startswith("--offline 'maybe': expected one of 1, true, yes, on, 0, false")


# -- addresses ----------------------------------------------------------------------------------

WITH_USER_INFO = [
    f"https://admin:{SECRET}@dtr.example.com",
    f"https://admin:{SECRET}@dtr.example.com:8443",
    f"admin:{SECRET}@dtr.example.com",
    f"https://admin:{SECRET}/x#y@dtr.example.com",
    f"https://:{SECRET}@dtr.example.com",
    "https://admin@dtr.example.com",
    "admin@dtr.example.com",
]


@pytest.mark.parametrize("address", WITH_USER_INFO)
@pytest.mark.parametrize("dest", ["target", "ucp_url", "replica_url"])
@pytest.mark.parametrize("source", ["cli", "env", "ini"])
def test_credentials_in_an_address_are_refused_without_echoing_them(
    address: str, dest: str, source: str
) -> None:
    option = spec(dest)
    value = f"0123456789ab={address}" if dest == "replica_url" else address
    sources: dict[str, Mapping[str, object]] = {
        "cli": {dest: [value] if dest == "replica_url" else value},
        "env": {option.env: value},
        "ini": {dest: value},
    }
    message = refusal(**{source: sources[source]})
    assert message.startswith(f"{option.name}: a user name or password")
    for variable in CREDENTIAL_VARIABLES:
        assert variable in message
    assert SECRET not in message
    assert "admin" not in message
    assert "@" not in message
    assert "example" not in message


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("dtr.example.com", "https://dtr.example.com"),
        (" dtr.example.com:8443 ", "https://dtr.example.com:8443"),
        ("https://dtr.example.com/", "https://dtr.example.com"),
        ("HTTPS://DTR.example.com", "https://DTR.example.com"),
        ("10.0.0.5:443", "https://10.0.0.5:443"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("[2001:db8::7]", "https://[2001:db8::7]"),
        ("dtr_lb.internal:65535", "https://dtr_lb.internal:65535"),
    ],
)
def test_address_forms_accepted(value: str, url: str) -> None:
    assert normalise_url(value, "--target") == url


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "--target: empty"),
        ("http://dtr.example.com", "only reached over https"),
        ("ftp://dtr.example.com", "expected host[:port] or https://host[:port]"),
        ("https://", "expected host[:port] or https://host[:port]"),
        ("https://dtr.example.com/api/v0", "remove the path '/api/v0'"),
        ("https://dtr.example.com?token=abcd1234", "remove the query or fragment"),
        ("https://dtr.example.com/#abcd1234", "remove the query or fragment"),
        ("dtr example.com", "contains a space"),
        ("dtr.exam\tple.com", "contains a space"),
        ("dtr.example.com:https", "the port must be a number from 1 to 65535"),
        ("dtr.example.com:", "the port must be a number from 1 to 65535"),
        ("dtr.example.com:0", "the port must be a number from 1 to 65535"),
        ("dtr.example.com:65536", "the port must be a number from 1 to 65535"),
        ("dtr.example.com:\uff18\uff14\uff14\uff13", "the port must be a number from 1 to 65535"),
        ("::1", "an IPv6 address goes in brackets"),
        ("https://fe80::1:8443", "an IPv6 address goes in brackets"),
        ("https://[::1", "expected an IPv6 address in brackets"),
        ("https://[not-v6]:8443", "expected an IPv6 address in brackets"),
        ("https://[::1]8443", "expected an IPv6 address in brackets"),
        ("-dtr-.example.com", "expected host[:port] or https://host[:port]"),
        ("dtr..example.com", "expected host[:port] or https://host[:port]"),
    ],
)
def test_address_garbage_is_one_line(value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        normalise_url(value, "--target")
    message = str(caught.value)
    assert fragment in message
    assert message.startswith("--target")
    assert "\n" not in message
    assert "abcd1234" not in message


@pytest.mark.parametrize("dest", ["target", "ucp_url"])
def test_address_options_are_checked_when_resolved(dest: str) -> None:
    message = refusal(cli={dest: "https://dtr.example.com:99999"})
    assert message.startswith(f"{spec(dest).name} ")
    assert "the port must be a number" in message


def test_replica_url_with_the_lab_is_a_usage_error() -> None:
    """The lab hands the session its replicas' addresses: a --replica-url would be ignored."""
    message = refusal(cli={"target": "lab", "replica_url": ["0123456789ab=https://r.example"]})
    assert message.startswith("--replica-url: the lab hands the session")
    assert "drop --replica-url with --target=lab" in message
    real = settle(cli={"target": "https://dtr.example", "replica_url": ["0123456789ab=r.example"]})
    assert real.replica_urls == {"0123456789ab": "https://r.example"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.7.0-29094adc", "is a build of release 2.7.0 (the suffix is a commit id; images are"),
        ("2.6.4-rc1", "2.6.4-rc1 is a pre-release, not a release"),
        ("2.6.4-tp3", "2.6.4-tp3 is a pre-release, not a release"),
    ],
)
def test_to_version_must_be_a_release(value: str, expected: str) -> None:
    """Bootstrapper images are tagged by release and the catalogue lists no pre-releases."""
    message = refusal(cli={"target": "lab", "to_version": value})
    assert message.startswith(f"--to-version {value}: ")
    assert expected in message


def test_a_lab_version_may_be_a_pre_release() -> None:
    """The lab may run a pre-release (what DTR reports); only the target must be a release."""
    settings = settle(cli={"target": "lab", "to_version": "2.6.4", "lab_version": "2.6.4-rc1"})
    assert (str(settings.to_version), settings.lab.version) == ("2.6.4", "2.6.4-rc1")


def test_replica_url_garbage() -> None:
    message = refusal(cli={"replica_url": ["0123456789ab=https://r.example/x"]})
    assert message.startswith("--replica-url 'https://r.example/x': remove the path")


# -- lab scenarios ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nope", "healthy,nope", "no-backup, Gc-Running"])
def test_unknown_lab_scenario_names_the_known_ones(value: str) -> None:
    message = refusal(cli={"target": "lab", "lab_scenario": value})
    assert message.startswith("--lab-scenario: unknown lab scenario(s)")
    for name in SCENARIOS:
        assert name in message


def test_known_lab_scenarios_comma_separated() -> None:
    settings = settle(
        cli={"target": "lab"}, env={"DTR_UPGRADE_LAB_SCENARIO": "no-backup, gc-running"}
    )
    assert settings.lab.scenarios == ("no-backup", "gc-running")
    assert settle(cli={"target": "lab"}).lab.scenarios == ("healthy",)


def test_a_process_lab_scenario_on_the_engine_lab_is_a_usage_error() -> None:
    # One engine runs every node of the engine lab: no node can lack an image another holds.
    message = refusal(
        cli={
            "target": "lab",
            "lab_engine": "docker",
            "lab_scenario": "no-backup,image-missing-on-node",
        }
    )
    assert message.startswith(
        "--lab-scenario with --lab-engine=docker: image-missing-on-node runs on the process "
        "lab only: the engine lab runs every node's containers on one Docker engine"
    ), message
    assert message.endswith("run it without --lab-engine")
    process = settle(cli={"target": "lab", "lab_scenario": "image-missing-on-node"})
    assert process.lab.scenarios == ("image-missing-on-node",)
    engine = settle(cli={"target": "lab", "lab_engine": "docker", "lab_scenario": "no-backup"})
    assert engine.lab.scenarios == ("no-backup",)


def test_lab_scenario_is_not_checked_for_a_real_target() -> None:
    settings = settle(cli={"target": "dtr.example.com", "lab_scenario": "nope"})
    assert settings.lab.scenarios == ("nope",)


@pytest.mark.parametrize("target", ["LAB", "Lab", "lab:443"])
def test_a_target_that_means_the_lab_is_refused_not_judged(target: str) -> None:
    # Taken as a host named lab, every check failed and the verdict called the DTR UNHEALTHY.
    with pytest.raises(SettingsError, match="the built-in lab is --target=lab, exactly"):
        settle(cli={"target": target})
    assert settle(cli={"target": "lab.example.com"}).target == "lab.example.com"


# -- durations and numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("option", DURATIONS, ids=[o.name for o in DURATIONS])
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("99999999999d", "the longest duration accepted is 3650d"),
        ("3651d", "the longest duration accepted is 3650d"),
        ("9" * 400 + "s", "the longest duration accepted is 3650d"),
        ("-5s", "a duration cannot be negative"),
        ("nan", "expected a duration"),
        ("inf", "expected a duration"),
        ("1e9s", "expected a duration"),
    ],
)
def test_bad_duration_is_a_settings_error(option: OptionSpec, value: str, fragment: str) -> None:
    message = refusal(cli={option.dest: value})
    assert message.startswith(f"{option.name} {value!r}: ")
    assert fragment in message


@pytest.mark.parametrize("option", DURATIONS, ids=[o.name for o in DURATIONS])
def test_zero_duration_only_where_it_means_something(option: OptionSpec) -> None:
    if option.allow_zero:
        assert settle(cli={option.dest: "0s"}).raw[option.dest] == timedelta(0)
    else:
        message = refusal(cli={option.dest: "0s"})
        assert message == f"{option.name} '0s': must be longer than zero"
        assert refusal(cli={option.dest: "0.0000001s"}).endswith("must be longer than zero")


def test_longest_duration_is_accepted() -> None:
    assert settle(cli={"max_backup_age": "3650d"}).max_backup_age == timedelta(days=3650)


@pytest.mark.parametrize(
    ("dest", "value"),
    [
        ("min_free_memory_gb", "nan"),
        ("min_free_disk_gb", "inf"),
        ("min_free_disk_gb", "-1"),
        ("min_free_memory_gb", "1e400"),
        ("min_cert_days", "-3"),
        ("probe_interval", "nan"),
    ],
)
def test_numbers_must_be_finite_and_not_negative(dest: str, value: str) -> None:
    message = refusal(env={spec(dest).env: value})
    assert message == f"{spec(dest).name} {value!r}: expected a number of 0 or more"


# -- CA bundles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dest", ["dtr_ca", "ucp_ca"])
@pytest.mark.parametrize("content", ["empty", "text", "private key", "der"])
def test_ca_file_without_a_certificate_is_refused(tmp_path: Path, dest: str, content: str) -> None:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    match content:
        case "empty":
            path.write_bytes(b"")
        case "text":
            path.write_text("this is not a certificate\n")
        case "private key":
            ca.private_key_pem.write_to_path(str(path))
        case _:
            path.write_bytes(ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()))
    message = refusal(cli={dest: str(path)})
    assert message.startswith(f"{spec(dest).name} {path}: not a PEM CA bundle")


def test_ca_bundle_with_a_certificate_is_accepted(pem_files: list[Path]) -> None:
    settings = settle(cli={"dtr_ca": str(pem_files[0]), "ucp_ca": str(pem_files[1])})
    assert settings.dtr_ca == pem_files[0]
    assert settings.ucp_ca == pem_files[1]


# -- report dir ---------------------------------------------------------------------------------


def test_report_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reports"
    path.write_text("")
    message = refusal(cli={"target": "lab", "report_dir": str(path)})
    assert message == f"--report-dir {path}: not a directory; name a directory"


def test_report_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "reports"
    message = refusal(cli={"target": "lab", "report_dir": str(path)})
    assert message == f"--report-dir {path}: {tmp_path / 'file'} is not a directory"


def test_dangling_report_dir_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reports"
    path.symlink_to(tmp_path / "gone")
    message = refusal(cli={"target": "lab", "report_dir": str(path)})
    assert message.startswith(f"--report-dir {path}: a symbolic link to nothing")


@pytest.mark.parametrize("missing", [(), ("new",), ("new", "deeper")])
def test_read_only_report_dir_or_parent_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]
) -> None:
    denied = tmp_path / "ro"
    denied.mkdir()
    real_access = os.access

    def access(path: os.PathLike[str] | str, mode: int) -> bool:
        return Path(path) != denied and real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    path = denied.joinpath(*missing)
    message = refusal(cli={"target": "dtr.example.com", "report_dir": str(path)})
    parent = f" (its nearest existing parent {denied})" if missing else ""
    assert message == (
        f"--report-dir {path}: not writable{parent}; choose a directory you can write to"
    )


def test_report_dir_is_checked_but_not_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "reports"
    assert settle(cli={"target": "lab", "report_dir": str(path)}).report_dir == path
    assert not (tmp_path / "new").exists()


def test_report_dir_is_not_checked_without_a_target(tmp_path: Path) -> None:
    path = tmp_path / "reports"
    path.write_text("")
    assert settle(cli={"report_dir": str(path)}).report_dir == path
