"""Parsers of option values: each kind of the option table, durations, addresses, RID=URL pairs.

Every parser raises `SettingsError` with a message that names the option and the fix; an address
with a user name or password is refused without repeating it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from upgrade.config.options import OptionSpec

_Number = TypeVar("_Number", int, float)


class SettingsError(ValueError):
    """An option value the harness cannot use; the message names the option and the fix."""


def from_environment(error: SettingsError, name: str, variable: str) -> SettingsError:
    """`error` naming where the value came from when option `name` was set by the environment
    variable `variable`: `DTR_UPGRADE_TO_VERSION (environment) / --to-version: ...`. An error
    that does not start with the option's name is returned as it is."""
    text = str(error)
    if text == name or (text.startswith(name) and text[len(name)] in " :="):
        return SettingsError(f"{variable} (environment) / {text}")
    return error


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
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 0}
# far beyond any wait or age the harness needs, and far from timedelta's and datetime's limits
MAX_DURATION = timedelta(days=3650)


def parse_duration(value: str, option: str, *, allow_zero: bool = True) -> timedelta:
    """Parse `90s`, `15m`, `24h`, `2d`, `1w`, at most 3650 days. A number without a unit is
    refused (`--max-backup-age=24` read as seconds is not what was meant), but for a bare 0,
    which is the same in every unit."""
    if value.strip().startswith("-"):
        raise SettingsError(f"{option} {value!r}: a duration cannot be negative")
    match = _DURATION.match(value)
    if not match:
        raise SettingsError(f"{option} {value!r}: expected a duration such as 30s, 15m, 24h or 7d")
    if match.group(2) is None and float(match.group(1)) != 0:
        raise SettingsError(
            f"{option} {value!r}: a duration needs a unit: s, m, h or d (seconds, minutes, "
            f"hours, days), e.g. {match.group(1)}h or {match.group(1)}s"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds <= MAX_DURATION.total_seconds():
        raise SettingsError(f"{option} {value!r}: the longest duration accepted is 3650d")
    duration = timedelta(seconds=seconds)
    if not allow_zero and duration <= timedelta(0):
        raise SettingsError(f"{option} {value!r}: must be longer than zero")
    return duration


_ENGINE_VERSION = re.compile(r"\d+\.\d+(\.\d+)?")


def parse_engine_version(value: str | None) -> str | None:
    """`--min-engine-version`: a Docker engine release, YY.MM or YY.MM.PATCH (17.06, 18.09.7,
    23.0: the forms of dtr-facts.md 5.1's bundles), or None for the DTR line's default."""
    if value is None:
        return None
    text = value.strip()
    if not _ENGINE_VERSION.fullmatch(text):
        raise SettingsError(
            f"--min-engine-version {value!r}: expected a Docker engine version such as 19.03 "
            "or 20.10.24 (YY.MM or YY.MM.PATCH)"
        )
    return text


def parse_replica_urls(values: list[str]) -> dict[str, str]:
    """Parse `--replica-url` values, RID=URL each, into a map of replica ID to base URL."""
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


HOST_FORMS = (
    "local:// (this machine), ssh://[user@]host[:port] (the ssh command), "
    "paramiko://[user@]host[:port] (needs pip install paramiko) or docker://container"
)
# What testinfra's backends need beyond testinfra (testinfra/backend/paramiko.py, winrm.py,
# salt.py import them and raise when they are missing).
_BACKEND_PACKAGES = {"paramiko": "paramiko", "winrm": "pywinrm", "salt": "salt"}


def parse_hosts(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--hosts` specs, each `scheme://host` with a scheme of testinfra's backends
    (testinfra.backend.BACKENDS), a host unless `local://`, and the backend's package installed:
    a bare name (testinfra's paramiko), an unknown scheme or a missing package is refused now,
    before any check reaches a node."""
    from testinfra.backend import BACKENDS, get_backend_class

    for spec in values:
        scheme, sep, rest = spec.partition("://")
        host = (rest if sep else spec).split("?")[0].split("/")[0]
        if "@" in host and ":" in host.partition("@")[0]:
            raise SettingsError("--hosts: a password in a host spec is not accepted; use keys")
        if not sep or scheme not in BACKENDS:
            raise SettingsError(
                f"--hosts {spec!r}: expected {HOST_FORMS}"
                + (
                    f" (testinfra has no {scheme!r} backend)"
                    if sep
                    else f", e.g. ssh://{spec} (a name alone would need paramiko)"
                )
            )
        if scheme != "local" and not host:
            raise SettingsError(f"--hosts {spec!r}: name the host, e.g. {scheme}://node1")
        try:
            get_backend_class(scheme)
        except (RuntimeError, ImportError):
            package = _BACKEND_PACKAGES.get(scheme, scheme)
            raise SettingsError(
                f"--hosts {spec!r}: testinfra's {scheme} backend needs the {package} package, "
                f"which is not installed: pip install {package} into the harness's environment"
                + (f", or use ssh://{host} (the ssh command)" if scheme == "paramiko" else "")
            ) from None
    return values


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def convert(spec: OptionSpec, value: object) -> object:
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
        expected = {"int": "a whole number", "float": "a number"}.get(spec.kind, spec.kind)
        raise SettingsError(f"{spec.name} {text!r}: expected {expected}") from None


def _not_negative(number: _Number, spec: OptionSpec, text: str) -> _Number:
    if number < 0 or (isinstance(number, float) and not math.isfinite(number)):
        raise SettingsError(f"{spec.name} {text!r}: expected a number of 0 or more")
    return number


_CANARY_REPO = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*/[a-z0-9]+(?:[._-][a-z0-9]+)*")


def parse_canary_repo(value: str | None) -> str | None:
    """Check `--canary-repo` is NAMESPACE/REPO as DTR spells repositories."""
    if value is not None and not _CANARY_REPO.fullmatch(value):
        raise SettingsError(
            f"--canary-repo {value!r}: expected NAMESPACE/REPO in lower case, e.g. admin/canary"
        )
    return value
