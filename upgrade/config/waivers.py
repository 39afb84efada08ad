"""Waivers: an approved, expiring exception that lets a named failing check not block the gate.

A waiver file (YAML or TOML) lists entries with `check`, `reason`, `approver` and `expires`:

    [[waiver]]
    check = "PRE-BACKUP"
    reason = "backup taken by the storage team, see CHG-1234"
    approver = "j.doe"
    expires = "2026-12-01T00:00Z"

A waived check still runs and is shown as waived; an expired waiver is ignored and says so.
The version path can never be waived: a refused upgrade path is refused.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

UNWAIVABLE = frozenset({"PRE-VERSION-PATH"})


class WaiverError(ValueError):
    """A waiver file the harness refuses; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class Waiver:
    """One approved exception for one check ID."""

    check: str
    reason: str
    approver: str
    expires: datetime

    def expired(self, now: datetime) -> bool:
        """Whether the waiver no longer applies at `now`."""
        return now >= self.expires

    def describe(self) -> str:
        """One line for the terminal and the report."""
        return (
            f"waived {self.check} by {self.approver} until {self.expires.isoformat()}: "
            f"{self.reason}"
        )

    def as_dict(self) -> dict[str, str]:
        """JSON form for result.json."""
        return {
            "check": self.check,
            "reason": self.reason,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
        }


@dataclass(frozen=True)
class Waivers:
    """The waivers of a session, split into those in force and those expired."""

    active: Mapping[str, Waiver]
    expired: tuple[Waiver, ...]

    def get(self, check_id: str) -> Waiver | None:
        """The waiver in force for `check_id`, if any."""
        return self.active.get(check_id)


NO_WAIVERS = Waivers(active={}, expired=())


def _expiry(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WaiverError(
                f"{where}: expires {value!r} is not an ISO 8601 date or time"
            ) from None
    else:
        raise WaiverError(f"{where}: 'expires' is required (ISO 8601, e.g. 2026-12-01T00:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse(entries: Iterable[object], source: str, now: datetime) -> Waivers:
    """Validate waiver entries (already decoded from YAML/TOML) and split them by expiry."""
    active: dict[str, Waiver] = {}
    expired: list[Waiver] = []
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: waiver {index}"
        if not isinstance(entry, Mapping):
            raise WaiverError(f"{where}: expected a table with check, reason, approver, expires")
        fields = {}
        for key in ("check", "reason", "approver"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise WaiverError(f"{where}: '{key}' is required and must be non-empty text")
            fields[key] = value.strip()
        unknown = set(entry) - {"check", "reason", "approver", "expires"}
        if unknown:
            raise WaiverError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        if fields["check"] in UNWAIVABLE:
            raise WaiverError(
                f"{where}: {fields['check']} cannot be waived: a refused upgrade path is never "
                "forced; follow the planned stops instead"
            )
        waiver = Waiver(
            check=fields["check"],
            reason=fields["reason"],
            approver=fields["approver"],
            expires=_expiry(entry.get("expires"), where),
        )
        if waiver.expired(now):
            expired.append(waiver)
        elif waiver.check in active:
            raise WaiverError(f"{where}: a second waiver for {waiver.check}")
        else:
            active[waiver.check] = waiver
    return Waivers(active=active, expired=tuple(expired))


def load(path: Path, now: datetime) -> Waivers:
    """Read a waiver file; TOML uses `[[waiver]]` tables, YAML a list or a `waivers:` key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError(f"--waivers {path}: cannot read it ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WaiverError(f"--waivers {path}: not valid {path.suffix or 'YAML'}: {first}") from None
    if data is None:
        return NO_WAIVERS
    if isinstance(data, Mapping):
        data = data.get("waiver", data.get("waivers"))
    if not isinstance(data, list):
        raise WaiverError(
            f"--waivers {path}: expected a list of waivers ([[waiver]] in TOML, a list in YAML)"
        )
    return parse(data, str(path), now)
