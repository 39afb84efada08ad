"""Evidence: what each check saw, the session record, and the bundle folder it is written to.

Every check item gets a `CheckRecord`; checks attach what they observed (JSON-able data or
text) so that an auditor can see why it passed or failed. The session record is written as
`result.json` into a bundle folder `<UTC time>-<target>-<from>-<to>/` under the report
directory. Everything written passes through the redactor first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


class Redacts(Protocol):
    """Anything that scrubs known secret values out of nested data."""

    def redact_obj(self, obj: Any) -> Any:
        """Return `obj` with every known secret replaced."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """Turn evidence values (dataclasses, paths, times, sets) into JSON-able data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return jsonable(as_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return str(value)


@dataclass
class CheckRecord:
    """One check item: its identity, outcome, timing and the evidence it attached."""

    nodeid: str
    check_id: str
    phase: str
    description: str
    # Every record starts as not run: only a report of the check itself changes that.
    outcome: str = "not-run"
    message: str = ""
    started_at: datetime | None = None
    duration_s: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    waiver: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"<evidence of {self.check_id} ({len(self.evidence)} items)>"

    def attach(self, name: str, value: Any) -> None:
        """Attach one piece of evidence under `name` (a later value replaces an earlier one)."""
        self.evidence[name] = jsonable(value)

    def note(self, text: str) -> None:
        """Record a warning that does not fail the check but belongs in the report."""
        self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        """The record in result.json's `checks` form."""
        return {
            "id": self.check_id,
            "phase": self.phase,
            "outcome": self.outcome,
            "nodeid": self.nodeid,
            "description": self.description,
            "message": self.message,
            "started_at": iso(self.started_at),
            "duration_s": round(self.duration_s, 3),
            "notes": list(self.notes),
            "waiver": self.waiver,
            "evidence": self.evidence,
        }


@dataclass
class SessionRecord:
    """Everything result.json holds about one session."""

    target: str
    mode: str
    from_version: str | None = None
    to_version: str | None = None
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None
    verdict: str = ""
    verdict_reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckRecord] = field(default_factory=list)
    waivers_expired: list[dict[str, str]] = field(default_factory=list)
    phases: dict[str, dict[str, str | float | None]] = field(default_factory=dict)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    bundle_problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def phase_started(self, phase: str, moment: datetime) -> None:
        """Note the first time a phase started."""
        self.phases.setdefault(phase, {"started_at": iso(moment), "finished_at": None})

    def phase_finished(self, phase: str, moment: datetime) -> None:
        """Note the latest time a phase finished and its duration."""
        entry = self.phases.setdefault(phase, {"started_at": iso(moment)})
        entry["finished_at"] = iso(moment)
        start = entry.get("started_at")
        if isinstance(start, str):
            began = datetime.fromisoformat(start.replace("Z", "+00:00"))
            entry["duration_s"] = round((moment - began).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        """The whole record in result.json form."""
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "mode": self.mode,
            "target": self.target,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "settings": jsonable(self.settings),
            "phases": self.phases,
            "waivers_expired": self.waivers_expired,
            "collection_errors": self.collection_errors,
            "bundle_problems": self.bundle_problems,
            "checks": [c.as_dict() for c in self.checks],
        }
        data.update(jsonable(self.extra))
        return data


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bundle_name(started_at: datetime, target: str, from_v: str | None, to_v: str | None) -> str:
    """`<UTC time>-<target>-<from>-<to>`, safe as a folder name."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = _UNSAFE.sub("_", target.removeprefix("https://")).strip("_") or "target"
    return f"{stamp}-{host}-{from_v or 'unknown'}-{to_v or 'none'}"


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file atomically: a reader sees the old file or the whole new one, never half.

    On a write failure (a full disk) the partial temporary file is removed and the OSError
    names `path`, so the caller can say exactly which file of the bundle is missing.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees a half-written file."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    atomic_write(path, text.encode("utf-8"))


class Bundle:
    """The evidence folder of one session: staged under a temporary name, then named."""

    def __init__(self, report_dir: Path, started_at: datetime, target: str) -> None:
        self.report_dir = report_dir
        self.started_at = started_at
        self.target = target
        report_dir.mkdir(parents=True, exist_ok=True)
        stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = report_dir / f".incomplete-{stamp}-{os.getpid()}"
        self.path.mkdir()
        self._final: Path | None = None

    def file(self, name: str) -> Path:
        """The path of a file inside the bundle."""
        return self.path / name

    def final_path(self, from_v: str | None, to_v: str | None) -> Path:
        """The name the bundle will get (chosen once, so result.json can cite it)."""
        if self._final is None:
            final = self.report_dir / bundle_name(self.started_at, self.target, from_v, to_v)
            suffix = 1
            candidate = final
            while candidate.exists():
                suffix += 1
                candidate = final.with_name(f"{final.name}-{suffix}")
            self._final = candidate
        return self._final

    def finalise(self, from_v: str | None, to_v: str | None) -> Path:
        """Give the bundle its final name and point `latest` at it."""
        candidate = self.final_path(from_v, to_v)
        os.replace(self.path, candidate)
        self.path = candidate
        latest = self.report_dir / "latest"
        tmp_link = self.report_dir / f".latest-{os.getpid()}"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(candidate.name)
        os.replace(tmp_link, latest)
        return candidate


UNFINISHED_NOTE = "UNFINISHED.json"
_STAGED = re.compile(r"^\.incomplete-(\d{8}T\d{6})\d*Z-(\d+)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def unfinished_bundles(report_dir: Path) -> list[tuple[Path, int]]:
    """Staged bundles whose session is gone (killed, crashed, power lost), with its pid.

    A staged bundle of a session that is still running (its pid alive) is left alone.
    """
    if not report_dir.is_dir():
        return []
    found = []
    for entry in sorted(report_dir.iterdir()):
        match = _STAGED.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(2))):
            found.append((entry, int(match.group(2))))
    return found


def close_unfinished(
    staged: Path, pid: int, found_at: datetime, seal: Callable[[Path], object]
) -> Path:
    """Leave a note in an unfinished bundle saying what happened, `seal` it, then name it
    `<UTC time>-unfinished-<pid>`. Returns the new path. Sealed before it is named, so a
    session killed while doing this leaves it staged, to be closed again by the next one."""
    match = _STAGED.match(staged.name)
    stamp = match.group(1) + "Z" if match else found_at.strftime("%Y%m%dT%H%M%SZ")
    files = sorted(p.name for p in staged.iterdir() if p.name != UNFINISHED_NOTE)
    note = {
        "verdict": "UNFINISHED",
        "verdict_reason": (
            f"the session (pid {pid}) that wrote this bundle ended without sealing it: it was "
            "killed (SIGKILL), crashed or lost its machine. Its verdict is unknown; if it ran "
            "an upgrade, the DTR may be mid-upgrade: run the preflight (PRE-REPLICA-VERSIONS "
            "shows mixed versions) and re-run the upgrade to resume."
        ),
        "pid": pid,
        "found_at": iso(found_at),
        "files": files,
    }
    write_json(staged / UNFINISHED_NOTE, note)
    seal(staged)
    final = staged.with_name(f"{stamp}-unfinished-{pid}")
    suffix = 1
    candidate = final
    while candidate.exists():
        suffix += 1
        candidate = final.with_name(f"{final.name}-{suffix}")
    os.replace(staged, candidate)
    return candidate


# A session's bundle is a few MB; a baseline of a large registry (10,000 repositories x 5 tags)
# is about 8 MB, and the report embeds the evidence once more. 64 MiB leaves room for both.
MIN_BUNDLE_SPACE = 64 * 1024 * 1024
PROBE_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Room:
    """Whether the bundle's file system can take the rest of the session's evidence."""

    path: Path
    free_bytes: int
    needed_bytes: int
    probe_error: str | None

    @property
    def ok(self) -> bool:
        """Writable (a probe file was written and synced) and enough free space."""
        return self.probe_error is None and self.free_bytes >= self.needed_bytes


def room_for_bundle(bundle: Path, needed: int = MIN_BUNDLE_SPACE) -> Room:
    """Write, sync and remove a 1 MiB probe file in the bundle, and measure the free space."""
    probe = bundle / ".space-probe"
    error = None
    try:
        with probe.open("wb") as out:
            out.write(b"\0" * PROBE_SIZE)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        error = exc.strerror or str(exc)
    finally:
        probe.unlink(missing_ok=True)
    usage = shutil.disk_usage(bundle)
    return Room(bundle, usage.free, needed, error)
