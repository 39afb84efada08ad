"""Inspection of a DTR backup tar (`docker run ... dtr backup > backup.tar`).

A DTR backup is a tar whose top folder is `dtr-backup-v<version>/` with the RethinkDB data
under `dtr-backup-v<version>/rethink/` (DTR's create-a-backup guide). The harness reads the
whole archive (so a truncated or corrupt file is caught), notes the version it was taken at,
and records its SHA-256 so the evidence identifies exactly which file was checked.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from upgrade.errors import HarnessError
from upgrade.evidence.files import sha256_file

_TOP = re.compile(r"^(?:\./)?dtr-backup-v([^/]+)/")
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

    def age(self, now: datetime) -> float:
        """Seconds since the file was written."""
        return (now - self.modified_at).total_seconds()


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
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                members += 1
                match = _TOP.match(member.name)
                if match:
                    versions.add(match.group(1))
                    rest = member.name[match.end() :]
                    has_rethink = has_rethink or rest.startswith("rethink/") or rest == "rethink"
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
        """The archive read whole and holds `dtr-backup-v<version>/rethink/`."""
        return self.info is not None and self.info.version is not None and self.info.has_rethink


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
