"""`--backup FILE | take | take:PATH`: the backup preflight checks, given or taken here.

`FILE` is a backup taken elsewhere (`docker run ... backup > FILE`). `take` runs the running
version's bootstrapper `backup` in this session, before PRE-BACKUP judges it (dtr-facts.md
1.3), into `<report-dir>/backups/` under the documented name; `take:PATH` writes it to the
file PATH, or into PATH when that is a folder. A file that exists is never overwritten, and
the folder must be one the session can write to: both are refused before anything runs. A
file literally called `take` is given as `./take`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from upgrade.config.values import SettingsError

__all__ = ["DEFAULT_FOLDER", "TAKE", "BackupOption", "parse_backup_option"]

TAKE = "take"
# Under --report-dir, beside the bundles, not in one: a backup holds DTR's private keys
# (create-a-backup.md) and sealing rewrites and hashes every bundle file.
DEFAULT_FOLDER = "backups"


@dataclass(frozen=True)
class BackupOption:
    """What --backup asks for: a `given` file, or to `take` one (into `to`, if named)."""

    given: Path | None = None
    take: bool = False
    to: Path | None = None


def parse_backup_option(value: str | None) -> BackupOption:
    """Parse --backup; refuse a `take:PATH` that names an existing file or an unwritable
    folder, and an empty PATH."""
    if value is None or not value.strip():
        return BackupOption()
    text = value.strip()
    if text != TAKE and not text.startswith(f"{TAKE}:"):
        return BackupOption(given=Path(text).expanduser())
    if text == TAKE:
        return BackupOption(take=True)
    raw = text[len(TAKE) + 1 :].strip()
    if not raw:
        raise SettingsError(
            "--backup take:: no PATH after take:; give a file or folder, or just --backup=take"
        )
    path = Path(raw).expanduser()
    folder = path if path.is_dir() else path.parent
    if path.exists() and not path.is_dir():
        raise SettingsError(
            f"--backup take:{path}: the file exists and a backup is never written over; "
            "name a new file or a folder"
        )
    if not folder.is_dir():
        raise SettingsError(f"--backup take:{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SettingsError(f"--backup take:{path}: the folder {folder} is not writable")
    try:
        # access() says yes to root everywhere; only a write shows a folder that refuses
        # files (/proc, a read-only mount).
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SettingsError(
            f"--backup take:{path}: cannot create a file in {folder} "
            f"({exc.strerror or exc}); name a folder on a writable filesystem"
        ) from None
    return BackupOption(take=True, to=path)
