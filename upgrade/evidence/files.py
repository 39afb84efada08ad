"""Writing the bundle's files so that a reader never sees half of one, and the SHA-256 of a
file read in chunks (the bundle's sums, a backup archive)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


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


_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at `path`, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
