"""Inspection of a DTR backup tar (`docker run ... dtr backup > backup.tar`).

A DTR backup is a tar whose top folder is `dtr-backup-v<version>/` with the RethinkDB data
under `dtr-backup-v<version>/rethink/`: `tar -tf` shows `dtr-backup-v<version>/`,
`dtr-backup-v<version>/rethink/`, `.../rethink/properties/0` and so on (create-a-backup.md,
"Test your backups"; dtr-facts.md 1.3, S7). The harness reads the whole archive (so a truncated
or corrupt file is caught), notes the version it was taken at and whether that documented
layout is there, and records its SHA-256 so the evidence identifies exactly which file was
checked.

When the backup was taken: the file's own modification time changes with a plain `cp` (and
anyone can `touch` it), while each tar member's header keeps the modification time of what was
archived (the ustar/pax `mtime` field, POSIX `pax` "ustar Interchange Format"; Python's
`TarInfo.mtime`), and copying the file does not rewrite the headers. DTR's documentation does
not say which times the bootstrapper writes there, so the newest non-zero member time is used
when there is one (an archive written at backup time carries that time) and the file's
modification time otherwise (members dated 0, the epoch, carry no time); both are recorded.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from upgrade.errors import HarnessError
from upgrade.evidence.files import sha256_file

_TOP = re.compile(r"^(?:\./)?dtr-backup-v([^/]+)/")
_PROPERTIES = "rethink/properties/"
_CHUNK = 1 << 20


class BackupUnreadable(HarnessError):
    """The backup file is missing, unreadable, or not a DTR backup tar."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds, as far as the upgrade's preconditions are concerned."""

    path: Path
    size: int
    sha256: str
    modified_at: datetime
    version: str | None
    members: int
    has_rethink: bool
    has_properties: bool = False
    members_modified_at: datetime | None = None

    @property
    def taken_at(self) -> datetime:
        """When the backup was taken: its members' newest modification time when they carry
        one, else the file's (the module's docstring says why)."""
        return self.members_modified_at or self.modified_at

    def age(self, now: datetime) -> float:
        """Seconds since the backup was taken (`taken_at`)."""
        return (now - self.taken_at).total_seconds()

    @property
    def missing(self) -> str | None:
        """The first part of the documented layout (dtr-facts.md 1.3) the archive lacks, or
        None when `dtr-backup-v<version>/rethink/properties/` holds a file."""
        if self.version is None:
            return "no dtr-backup-v<version>/ folder"
        root = f"dtr-backup-v{self.version}"
        if not self.has_rethink:
            return f"no {root}/rethink/"
        if not self.has_properties:
            return f"no file in {root}/rethink/properties/ (the layout has .../properties/0)"
        return None


def inspect(path: Path) -> BackupInfo:
    """Read the whole backup tar once; raise `BackupUnreadable` naming the problem."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise BackupUnreadable(f"--backup {path}: no such file; take a DTR backup first") from None
    except OSError as exc:
        raise BackupUnreadable(f"--backup {path}: cannot read it ({exc.strerror})") from None
    versions: set[str] = set()
    members = 0
    has_rethink = False
    has_properties = False
    newest = 0.0
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                members += 1
                newest = max(newest, float(member.mtime))
                match = _TOP.match(member.name)
                if match:
                    versions.add(match.group(1))
                    rest = member.name[match.end() :]
                    has_rethink = has_rethink or rest.startswith("rethink/") or rest == "rethink"
                    has_properties = has_properties or (
                        member.isfile() and rest.startswith(_PROPERTIES) and rest != _PROPERTIES
                    )
                if member.isfile():
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        while extracted.read(_CHUNK):
                            pass
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupUnreadable(
            f"--backup {path}: not a readable tar archive ({exc}); the backup is damaged or "
            "incomplete, take a new one"
        ) from None
    if len(versions) > 1:
        raise BackupUnreadable(
            f"--backup {path}: holds backups of several versions ({', '.join(sorted(versions))})"
        )
    return BackupInfo(
        path=path,
        size=stat.st_size,
        sha256=sha256_file(path),
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
        version=next(iter(versions), None),
        members=members,
        has_rethink=has_rethink,
        has_properties=has_properties,
        members_modified_at=datetime.fromtimestamp(newest, UTC) if newest > 0 else None,
    )


@dataclass(frozen=True)
class BackupReading:
    """One reading of a backup file: when it was written (None when it cannot even be
    stat'ed), what it holds (None when it does not read whole), and why not."""

    path: Path
    modified_at: datetime | None
    info: BackupInfo | None
    problem: str | None

    @property
    def is_dtr_backup(self) -> bool:
        """The archive read whole and has the documented layout, down to a file in
        `dtr-backup-v<version>/rethink/properties/`."""
        return self.info is not None and self.info.missing is None

    @property
    def taken_at(self) -> datetime | None:
        """When the backup was taken (`BackupInfo.taken_at`); the file's modification time
        when the archive does not read whole; None when the file cannot be stat'ed."""
        return self.info.taken_at if self.info is not None else self.modified_at

    @property
    def taken_at_from(self) -> str:
        """Which evidence `taken_at` is: `members` (their newest time) or `file`."""
        has_members = self.info is not None and self.info.members_modified_at is not None
        return "members" if has_members else "file"

    def dated_in_future(self, now: datetime, skew: timedelta) -> str | None:
        """Why the backup's age cannot be judged: the file's or its newest member's
        modification time is more than `skew` (--max-clock-skew) after `now`; None when
        neither is."""
        members = self.info.members_modified_at if self.info is not None else None
        for what, when in (("file", self.modified_at), ("newest member", members)):
            if when is not None and when - now > skew:
                return (
                    f"the backup {self.path}'s {what} is dated in the future "
                    f"({when:%Y-%m-%dT%H:%M:%SZ}, {_span(when - now)} after this machine's "
                    f"clock, more than --max-clock-skew {_span(skew)}): check this machine's "
                    "clock or the file; a backup's age cannot be judged"
                )
        return None


def read(path: Path) -> BackupReading:
    """Stat and inspect the backup once; an unreadable file is a reading, never an error."""
    try:
        modified_at: datetime | None = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        modified_at = None
    try:
        info = inspect(path)
    except BackupUnreadable as exc:
        return BackupReading(path, modified_at, None, str(exc))
    return BackupReading(path, info.modified_at, info, None)


def _span(delta: timedelta) -> str:
    """`2.5 h`, `40 s`: a short duration for a message."""
    seconds = delta.total_seconds()
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"
