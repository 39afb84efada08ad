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
PRE-NO-UPGRADE-RUNNING looks at the cluster itself for that.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import os
import shlex
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

from upgrade.errors import HarnessError

__all__ = [
    "LOCK_DIR_VARIABLE",
    "HeldLock",
    "HeldLocks",
    "Holder",
    "LockError",
    "LockHeld",
    "acquire",
    "acquire_all",
    "addresses",
    "default_directory",
    "lock_path",
    "normalise_target",
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
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


class LockError(HarnessError):
    """The lock directory or file cannot be used safely; the message names the path."""


@dataclass(frozen=True)
class Holder:
    """The session that holds (or wants) the upgrade lock of a DTR."""

    target: str
    pid: int
    host: str
    user: str
    started_at: datetime
    command: tuple[str, ...]
    bundle: str | None = None

    @classmethod
    def of_this_process(
        cls,
        target: str,
        *,
        command: Sequence[str] | None = None,
        bundle: str | os.PathLike[str] | None = None,
        started_at: datetime | None = None,
    ) -> Holder:
        """This process as the holder: pid, host name, user, now (UTC) and `sys.argv`."""
        return cls(
            target=normalise_target(target),
            pid=os.getpid(),
            host=socket.gethostname(),
            user=_user(),
            started_at=(started_at or datetime.now(UTC)).astimezone(UTC),
            command=tuple(sys.argv if command is None else command),
            bundle=None if bundle is None else os.fspath(bundle),
        )

    def as_dict(self) -> dict[str, Any]:
        """The holder as written into the lock file (JSON)."""
        return {
            "target": self.target,
            "pid": self.pid,
            "host": self.host,
            "user": self.user,
            "started_at": _utc_text(self.started_at),
            "command": list(self.command),
            "bundle": self.bundle,
        }

    @classmethod
    def from_dict(cls, data: object) -> Holder | None:
        """The holder read back from a lock file; None when any field is missing or wrong."""
        if not isinstance(data, dict):
            return None
        pid, command, bundle = data.get("pid"), data.get("command"), data.get("bundle")
        texts = [data.get(key) for key in ("target", "host", "user", "started_at")]
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return None
        if not all(isinstance(text, str) for text in texts):
            return None
        if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
            return None
        if bundle is not None and not isinstance(bundle, str):
            return None
        try:
            started_at = datetime.fromisoformat(str(data["started_at"]))
        except ValueError:
            return None
        if started_at.tzinfo is None:
            return None
        return cls(
            target=str(data["target"]),
            pid=pid,
            host=str(data["host"]),
            user=str(data["user"]),
            started_at=started_at.astimezone(UTC),
            command=tuple(command),
            bundle=bundle,
        )

    def describe(self) -> str:
        """One line: pid, host, user, start time (UTC), command line and bundle."""
        text = (
            f"pid {self.pid} on host {self.host} (user {self.user}), started "
            f"{_utc_text(self.started_at)}, `{_one_line(shlex.join(self.command))}`"
        )
        return text + (f", bundle {_one_line(self.bundle)}" if self.bundle else "")


class LockHeld(HarnessError):
    """Another session holds the upgrade lock of the target.

    `holder` is None when its details could not be read (being written, or not a holder file).
    """

    def __init__(self, target: str, holder: Holder | None, path: Path) -> None:
        self.target = target
        self.holder = holder
        self.path = path
        who = holder.describe() if holder is not None else f"holder unknown (see {path})"
        super().__init__(
            f"another session holds the upgrade lock of {target}: {who}; wait for it to "
            "finish or stop it"
        )


class HeldLock:
    """The upgrade lock of one DTR, held by this process until `release()` (idempotent).

    A context manager: leaving the `with` block releases it. The kernel releases it anyway
    when the process ends.
    """

    def __init__(self, fd: int, path: Path, holder: Holder) -> None:
        self._fd: int | None = fd
        self.path = path
        self.holder = holder

    @property
    def target(self) -> str:
        """The normalised DTR URL the lock is for."""
        return self.holder.target

    @property
    def held(self) -> bool:
        """Whether this process still holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Clear the holder details and give the lock up; calling it again does nothing."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
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
        return f"<HeldLock {self.target} {state} {self.path}>"


def normalise_target(url: str) -> str:
    """The DTR URL as the lock knows it: `https://host[:port][/path]`, lower-case host, no
    credentials, no default port, no trailing slash; a bare host means https."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise LockError(f"cannot lock {url!r}: it names no host")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise LockError(f"cannot lock {url!r}: its port is not a number") from None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


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
    return HeldLock(fd, path, holder)


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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def addresses(target_url: str) -> list[str]:
    """The DTR's URL and the same DTR at each address its host resolves to, so that
    `localhost:8443` and `127.0.0.1:8443` are one DTR to the lock (a name that does not
    resolve is only itself)."""
    url = normalise_target(target_url)
    parts = urlsplit(url)
    port = parts.port or 443
    try:
        infos = socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    ips = sorted({str(info[4][0]) for info in infos})
    found = [
        url,
        *(
            normalise_target(f"https://[{ip}]:{port}" if ":" in ip else f"https://{ip}:{port}")
            for ip in ips
        ),
    ]
    return list(dict.fromkeys(found))


class HeldLocks:
    """The locks of one DTR under each of its addresses, released together."""

    def __init__(self, locks: Sequence[HeldLock]) -> None:
        self.locks = list(locks)

    def release(self) -> None:
        """Release every lock (idempotent)."""
        for held in self.locks:
            held.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire_all(target_url: str, holder: Holder, directory: Path | None = None) -> HeldLocks:
    """`acquire` the lock of the DTR under every address it has (see `addresses`); a second
    session that names the DTR differently still finds one of them held."""
    held: list[HeldLock] = []
    try:
        for address in addresses(target_url):
            held.append(acquire(address, holder, directory))
    except BaseException:
        for lock in held:
            lock.release()
        raise
    return HeldLocks(held)
