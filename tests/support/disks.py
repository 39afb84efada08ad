"""Small file systems for the tests that fill a disk: a tmpfs mounted for one test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. `64k`) at `mountpoint` for the block; skipped where mounting
    is not allowed (not root, no mount namespace), failed instead under CI=1."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    mount, umount = shutil.which("mount"), shutil.which("umount")
    reason = "cannot mount a tmpfs: no mount/umount program"
    mounted = False
    if mount is not None and umount is not None:
        done = subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
        mounted = done.returncode == 0
        reason = f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}"
    if not mounted:
        if os.environ.get("CI") == "1":
            pytest.fail(f"CI=1 and {reason}", pytrace=False)
        pytest.skip(reason)
    assert umount is not None
    try:
        yield mountpoint
    finally:
        if subprocess.run([umount, str(mountpoint)], check=False).returncode != 0:
            subprocess.run([umount, "-l", str(mountpoint)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Fill the file system of `path` with a file `filler`, leaving about `leave` bytes."""
    with (path / "filler").open("wb", buffering=0) as out:
        for size in (4096, 512):
            with contextlib.suppress(OSError):
                while os.statvfs(path).f_bavail * os.statvfs(path).f_frsize > leave:
                    out.write(b"\0" * size)


@contextlib.contextmanager
def full_tmpfs(mountpoint: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs at `mountpoint` with no space left on it."""
    with tmpfs(mountpoint, "64k") as mounted:
        fill(mounted)
        assert os.statvfs(mounted).f_bavail == 0
        yield mounted
