"""One upgrade at a time against one DTR: a lock between the sessions of one machine.

A session with `--apply` takes the lock of its target before anything runs; a second session
against the same DTR finds it taken and refuses, naming the holder. The lock is an exclusive
`flock` on a file named after the normalised DTR URL, in a directory every user of the machine
shares (under the system's temporary directory, or `DTR_UPGRADE_LOCK_DIR`). The kernel drops
the lock when the holder's process ends in any way, SIGKILL included, so a stale lock never
blocks anyone; the file itself stays (deleting a lock file would let two sessions lock two
different files of the same name).

The holder writes who it is into the file after locking; readers tolerate a file that is empty,
half written or garbage. Sessions on other machines cannot see this lock: the preflight check
PRE-NO-UPGRADE-RUNNING looks at the cluster itself for that. The holder record and the names
of one DTR are `upgrade.procedure.lock_holder`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from upgrade.procedure.lock_holder import Holder, LockError, LockHeld, addresses, normalise_target

__all__ = [
    "LOCK_DIR_VARIABLE",
    "HeldLock",
    "LockError",
    "LockHeld",
    "acquire",
    "acquire_all",
    "default_directory",
    "lock_path",
    "read_holder",
]

LOCK_DIR_VARIABLE: Final = "DTR_UPGRADE_LOCK_DIR"
DIRECTORY_NAME: Final = "dtr-upgrade-locks"
# World-writable with the sticky bit, as /tmp: every user can create a lock file, nobody can
# remove or replace another user's.
DIRECTORY_MODE: Final = 0o1777
# Every user's session must be able to write its holder details into a file another user
# created; the sticky directory keeps the file itself from being removed or replaced.
FILE_MODE: Final = 0o666
# A holder writes its details right after locking; a reader that finds none waits this long once.
HOLDER_SETTLE_S: Final = 0.05
_MAX_HOLDER_BYTES: Final = 64 * 1024


class HeldLock:
    """The upgrade lock of one DTR, under one address (`acquire`) or each of its addresses
    (`acquire_all`), held by this process until `release()` (idempotent) gives them all up.

    A context manager: leaving the `with` block releases it. The kernel releases it anyway
    when the process ends.
    """

    def __init__(self, holder: Holder, files: Sequence[tuple[int, Path]]) -> None:
        self.holder = holder
        self.paths = tuple(path for _, path in files)
        self._fds = [fd for fd, _ in files]

    @property
    def path(self) -> Path:
        """The lock file of the DTR under the address it was named by."""
        return self.paths[0]

    @property
    def target(self) -> str:
        """The normalised DTR URL the lock is for."""
        return self.holder.target

    @property
    def held(self) -> bool:
        """Whether this process still holds the lock."""
        return bool(self._fds)

    def release(self) -> None:
        """Clear the holder details and give every lock file up; calling it again does nothing."""
        fds, self._fds = self._fds, []
        for fd in fds:
            try:
                # Cleared while still locked, so the next holder's details are never overwritten.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "held" if self.held else "released"
        return f"<HeldLock {self.target} {state} {' '.join(map(str, self.paths))}>"


def default_directory() -> Path:
    """`DTR_UPGRADE_LOCK_DIR`, else `dtr-upgrade-locks` in the system's temporary directory."""
    configured = os.environ.get(LOCK_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / DIRECTORY_NAME


def lock_path(target_url: str, directory: Path | None = None) -> Path:
    """The lock file of a DTR: named by the SHA-256 of its normalised URL."""
    digest = hashlib.sha256(normalise_target(target_url).encode()).hexdigest()[:32]
    return (directory or default_directory()) / f"dtr-{digest}.lock"


def acquire(target_url: str, holder: Holder, directory: Path | None = None) -> HeldLock:
    """Take the upgrade lock of `target_url` without waiting and write `holder` into it.

    Raises `LockHeld` (naming the holder) when another session has it, `LockError` when the
    directory or the file is not safe to use.
    """
    fd, path, written = _take(target_url, holder, directory)
    return HeldLock(written, [(fd, path)])


def acquire_all(target_url: str, holder: Holder, directory: Path | None = None) -> HeldLock:
    """`acquire` the lock of the DTR under every address it has (see `addresses`); a second
    session that names the DTR differently still finds one of them held."""
    taken: list[tuple[int, Path]] = []
    first: Holder | None = None
    try:
        for address in addresses(target_url):
            fd, path, written = _take(address, holder, directory)
            taken.append((fd, path))
            first = first or written
    except BaseException:
        HeldLock(holder, taken).release()
        raise
    assert first is not None  # addresses() always holds the URL itself
    return HeldLock(first, taken)


def _take(target_url: str, holder: Holder, directory: Path | None) -> tuple[int, Path, Holder]:
    """Lock the file of `target_url` and write the holder into it: (fd, path, holder written)."""
    target = normalise_target(target_url)
    folder = directory or default_directory()
    _prepare_directory(folder)
    path = lock_path(target, folder)
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise LockError(f"cannot lock {path}: {exc.strerror}") from None
        raise LockHeld(target, _read_holder(path), path) from None
    if holder.target != target:
        holder = replace(holder, target=target)
    try:
        _write_holder(fd, holder)
    except OSError as exc:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise LockError(f"cannot write the lock holder into {path}: {exc.strerror}") from None
    return fd, path, holder


def read_holder(
    target_url: str, directory: Path | None = None, *, settle_s: float = HOLDER_SETTLE_S
) -> Holder | None:
    """The holder details in a DTR's lock file, without locking (None when there are none or
    they cannot be read, after looking twice `settle_s` apart)."""
    return _read_holder(lock_path(target_url, directory), settle_s)


def _prepare_directory(folder: Path) -> None:
    try:
        folder.mkdir(mode=DIRECTORY_MODE, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise LockError(f"cannot create the lock directory {folder}: {exc.strerror}") from None
    else:
        # mkdir's mode is cut by the umask; the directory must be shared by every user.
        with contextlib.suppress(OSError):
            folder.chmod(DIRECTORY_MODE)
    try:
        info = folder.lstat()
    except OSError as exc:
        raise LockError(f"cannot use the lock directory {folder}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise LockError(
            f"the lock directory {folder} is not a directory (a symbolic link or a file); "
            f"remove it or set {LOCK_DIR_VARIABLE}"
        )
    shared = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not info.st_mode & stat.S_ISVTX and info.st_uid == os.getuid():
        with contextlib.suppress(OSError):
            folder.chmod(stat.S_IMODE(info.st_mode) | stat.S_ISVTX)
            info = folder.lstat()
    if shared and not info.st_mode & stat.S_ISVTX:
        raise LockError(
            f"the lock directory {folder} is writable by others without the sticky bit, so "
            f"anyone could replace a lock file; `chmod 1777 {folder}` or set {LOCK_DIR_VARIABLE}"
        )


def _open_lock_file(path: Path) -> int:
    # Without O_CREAT first: with fs.protected_regular, O_CREAT on another user's file in a
    # sticky directory is refused even though the file is writable.
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    for _ in range(3):
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
            except FileExistsError:
                continue
            with contextlib.suppress(OSError):
                os.fchmod(fd, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockError(
                    f"the lock file {path} is a symbolic link; remove it (nothing else should "
                    "create files there)"
                ) from None
            raise LockError(f"cannot open the lock file {path}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockError(f"the lock file {path} is not a regular file; remove it")
        return fd
    raise LockError(f"cannot open the lock file {path}: it keeps appearing and disappearing")


def _write_holder(fd: int, holder: Holder) -> None:
    data = (json.dumps(holder.as_dict(), sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(path: Path, settle_s: float = HOLDER_SETTLE_S) -> Holder | None:
    for attempt in range(2):
        holder = _parse_holder(path)
        if holder is not None:
            return holder
        if attempt == 0 and settle_s > 0:
            time.sleep(settle_s)
    return None


def _parse_holder(path: Path) -> Holder | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = os.read(fd, _MAX_HOLDER_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return Holder.from_dict(json.loads(raw.decode()))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
