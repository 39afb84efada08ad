"""Taking the DTR backup the upgrade guide requires ("you have a recent DTR backup"), for
`--backup=take[:PATH]`.

The running version's bootstrapper runs `backup` the way the product documents it
(docker/docs `ee/dtr/admin/disaster-recovery/create-a-backup.md` and
`reference/dtr/2.6/cli/backup.md`; dtr-facts.md 1.3):

    docker run --log-driver none -i --rm --env UCP_PASSWORD docker/dtr:<running version> \\
        backup --ucp-url <ucp> --ucp-username <admin> --existing-replica-id <replica> \\
        --ucp-ca "$(cat ca.pem)" > dtr-metadata-<version>-backup-<date>.tar

The password travels only in the environment (`UCP_PASSWORD`), never on a command line. The
archive (stdout) is streamed into `<name>.partial` (mode 0600: a backup holds DTR's private
keys, create-a-backup.md) and hashed on the way; the log (stderr) goes to `backup.log` in the
bundle. Only a backup that ended with status 0, no fatal line and more than 0 bytes is renamed
to its name; a failure, an empty archive, a timeout, a stop (Ctrl-C, SIGTERM) or a full disk
removes the partial file, so no half file is ever counted as a backup. The file system keeps
at least `RESERVE_BYTES` free (the bundle's own room, PRE-REPORT-SPACE): a backup that would
eat into it is stopped. The backup is "always taken from the same replica" (create-a-backup.md):
--existing-replica-id, else the first healthy replica in ID order, the one the upgrade uses.

Owns `backup_destination`, `ArchiveFile` (the partial file, its hash and the space rule),
`TakenBackup` (what the evidence records) and `take` (one run);
`upgrade.procedure.backup_session` runs it for a harness session.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from upgrade.config.backup_option import DEFAULT_FOLDER
from upgrade.errors import HarnessError, one_line
from upgrade.evidence.bundle import MIN_BUNDLE_SPACE
from upgrade.procedure.bootstrapper import BootstrapperRequest

if TYPE_CHECKING:
    from upgrade.config.settings import Settings
    from upgrade.procedure.executor import Executor, LineCallback

__all__ = [
    "RESERVE_BYTES",
    "ArchiveFile",
    "TakenBackup",
    "backup_destination",
    "take",
]

RESERVE_BYTES: Final = MIN_BUNDLE_SPACE
# How much is written between two looks at the free space.
SPACE_CHECK_BYTES: Final = 8 * 1024 * 1024
PARTIAL_SUFFIX: Final = ".partial"
# What a partial file left by a killed session is renamed to when the next session finds it.
UNFINISHED_SUFFIX: Final = ".unfinished"

FreeBytes = Callable[[Path], int]
# logrus' key=value form: msg="..." with JSON-style escapes (dtrlab's Log prints the same).
_MSG = re.compile(r'\bmsg=("(?:[^"\\]|\\.)*")')


def fatal_message(line: str) -> str:
    """The message of a fatal log line: `msg="..."` of logrus' key=value form, else the line."""
    match = _MSG.search(line)
    if match:
        with contextlib.suppress(ValueError):
            return str(json.loads(match.group(1)))
    return line.strip()


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def backup_name(version: str, now: datetime) -> str:
    """The documented name: `dtr-metadata-<version>-backup-<YYYYmmdd-HH_MM_SS>.tar` (UTC;
    reference/dtr/2.6/cli/backup.md's advanced example)."""
    return f"dtr-metadata-{version}-backup-{now.astimezone(UTC).strftime('%Y%m%d-%H_%M_%S')}.tar"


def backup_destination(settings: Settings, version: str, now: datetime) -> Path:
    """`take:PATH` (a file, or a folder for the documented name), else
    `<report-dir>/backups/<documented name>`."""
    name = backup_name(version, now)
    chosen = settings.take_backup_to
    if chosen is None:
        return settings.report_dir / DEFAULT_FOLDER / name
    return chosen / name if chosen.is_dir() else chosen


class BackupStopped(HarnessError):
    """The archive could not be kept: the disk, the reserve, or the file itself."""


class ArchiveFile:
    """The partial file the archive streams into, hashed as it comes; the reader thread
    writes, the session's thread closes. A write that would leave less than `reserve` bytes
    free, or that the disk refuses, raises `BackupStopped` and is remembered in `error`."""

    def __init__(
        self, final: Path, reserve: int = RESERVE_BYTES, free_bytes: FreeBytes = _free_bytes
    ) -> None:
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL_SUFFIX)
        self.reserve = reserve
        self._free_bytes = free_bytes
        self.size = 0
        self._digest = hashlib.sha256()
        self._since_check = 0
        self._lock = threading.Lock()
        self.error: str | None = None
        self._fd: int | None = os.open(
            self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        # Held until the file is kept or discarded (the kernel frees it if the session is
        # killed): how the next session tells a killed session's file from a running one's.
        self._held: int | None = os.open(self.partial, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(self._held, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of what was written."""
        return self._digest.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Append one chunk (the executor's sink)."""
        with self._lock:
            if self._fd is None:
                raise BackupStopped("the backup file is closed")
            if self.error is not None:
                raise BackupStopped(self.error)
            self._since_check += len(chunk)
            if self._since_check >= SPACE_CHECK_BYTES or self.size == 0:
                self._since_check = 0
                free = self._free_bytes(self.partial.parent)
                if free - len(chunk) < self.reserve:
                    self.error = (
                        f"the file system of {self.partial.parent} would keep less than "
                        f"{self.reserve // (1024 * 1024)} MiB free after {self.size} bytes "
                        "(the bundle's room); free space there or give --backup=take:PATH "
                        "on a larger file system"
                    )
                    raise BackupStopped(self.error)
            view = memoryview(chunk)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                self.error = f"writing {self.partial} failed: {exc.strerror or exc}"
                raise BackupStopped(self.error) from None
            self._digest.update(chunk)
            self.size += len(chunk)

    def close(self) -> None:
        """Sync and close the file (idempotent); a failure becomes `error`."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.fsync(fd)
            except OSError as exc:
                self.error = self.error or f"syncing {self.partial} failed: {exc.strerror}"
            finally:
                os.close(fd)

    def keep(self) -> None:
        """Give the closed file its final name (never over an existing file: a hard link, or
        where the file system has none, a rename after looking)."""
        try:
            try:
                os.link(self.partial, self.final)
            except FileExistsError:
                raise
            except OSError:
                if self.final.exists():
                    raise
                os.rename(self.partial, self.final)
                return
            self.partial.unlink()
        finally:
            self._release()

    def discard(self) -> None:
        """Close and remove the partial file; never raises."""
        with contextlib.suppress(OSError):
            self.close()
        with contextlib.suppress(OSError):
            self.partial.unlink()
        self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(OSError):
                os.close(held)


def name_abandoned(folder: Path) -> list[tuple[Path, int]]:
    """Rename each `*.partial` in `folder` that no running session holds (its session was
    killed while taking a backup) to `*.unfinished`, so no one takes it for a backup; the
    new names and sizes. Files another session is still writing are left alone."""
    named: list[tuple[Path, int]] = []
    try:
        partials = sorted(folder.glob(f"*{PARTIAL_SUFFIX}"))
    except OSError:
        return named
    for partial in partials:
        try:
            fd = os.open(partial, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            unfinished = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
            unfinished = unfinished.with_name(unfinished.name + UNFINISHED_SUFFIX)
            if unfinished.exists():
                continue
            os.rename(partial, unfinished)
            named.append((unfinished, os.fstat(fd).st_size))
        except OSError:
            continue  # held: a running session's backup
        finally:
            os.close(fd)
    return named


@dataclass(frozen=True)
class TakenBackup:
    """What taking the backup came to: the file (None unless it was kept), the command as
    run (without the password), the bootstrapper, how it ended, size and SHA-256."""

    path: Path | None
    destination: Path
    image: str
    image_digest: str | None
    command: str
    replica_id: str | None
    started_at: datetime
    duration_s: float
    size: int
    sha256: str | None
    exit_code: int | None
    fatal: str | None
    problem: str | None
    preflight_only: bool

    @property
    def ok(self) -> bool:
        """Kept: status 0, no fatal line, not empty, written whole."""
        return self.problem is None and self.path is not None

    def as_dict(self) -> dict[str, object]:
        """The evidence PRE-BACKUP attaches."""
        return {
            "taken": self.ok,
            "path": str(self.path) if self.path else None,
            "destination": str(self.destination),
            "image": self.image,
            "image_digest": self.image_digest,
            "command": self.command,
            "existing_replica_id": self.replica_id,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "duration_s": self.duration_s,
            "size_bytes": self.size,
            "sha256": self.sha256,
            "exit_code": self.exit_code,
            "fatal": self.fatal,
            "problem": self.problem,
            "session": "preflight only (no --apply): the backup changed nothing"
            if self.preflight_only
            else "before the upgrade (--apply)",
        }


def shown_command(request: BootstrapperRequest, destination: Path | str = "backup.tar") -> str:
    """The documented command line this backup is, with the CA's PEM shortened and the
    password shown as the environment variable it travels in."""
    flags = ["--ucp-url", request.ucp_url, "--ucp-username", request.ucp_username]
    if request.existing_replica_id:
        flags += ["--existing-replica-id", request.existing_replica_id]
    flags.append('--ucp-ca "$(cat ucp-ca.pem)"' if request.ucp_ca_pem else "--ucp-insecure-tls")
    if request.debug:
        flags.append("--debug")
    return (
        f"docker run --log-driver none -i --rm --env UCP_PASSWORD {request.image} backup "
        + " ".join(flags)
        + f" > {destination}"
    )


def take(
    executor: Executor,
    request: BootstrapperRequest,
    destination: Path,
    timeout_s: float,
    on_line: LineCallback,
    *,
    preflight_only: bool = False,
    reserve: int = RESERVE_BYTES,
    free_bytes: FreeBytes = _free_bytes,
) -> TakenBackup:
    """Run `backup` once into `destination`; every way it can go wrong is a `problem` in the
    result, never an exception, except an interruption (KeyboardInterrupt), which removes the
    partial file and goes on."""
    started_at = datetime.now(UTC)
    began = time.monotonic()
    digest: str | None = None
    archive: ArchiveFile | None = None

    def ended(
        problem: str | None, exit_code: int | None = None, fatal: str | None = None
    ) -> TakenBackup:
        kept = archive is not None and problem is None
        return TakenBackup(
            path=destination if kept else None,
            destination=destination,
            image=request.image,
            image_digest=digest,
            command=shown_command(request, destination),
            replica_id=request.existing_replica_id,
            started_at=started_at,
            duration_s=round(time.monotonic() - began, 3),
            size=archive.size if archive is not None else 0,
            sha256=archive.sha256 if archive is not None and archive.size else None,
            exit_code=exit_code,
            fatal=fatal,
            problem=problem,
            preflight_only=preflight_only,
        )

    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            return ended(f"{destination} exists and a backup is never written over; remove it")
        free = free_bytes(destination.parent)
        if free < reserve:
            return ended(
                f"only {free // (1024 * 1024)} MiB free on the file system of "
                f"{destination.parent}, less than the {reserve // (1024 * 1024)} MiB the bundle "
                "needs; free space or give --backup=take:PATH on a larger file system"
            )
        digest = executor.prepare(request).digest
        archive = ArchiveFile(destination, reserve, free_bytes)
    except OSError as exc:
        return ended(f"cannot write the backup into {destination.parent}: {exc.strerror or exc}")
    except HarnessError as exc:
        return ended(f"the backup's bootstrapper could not be prepared: {exc}")
    try:
        try:
            result = executor.run_backup(request, archive.write, on_line, timeout_s)
        finally:
            archive.close()
    except HarnessError as exc:
        archive.discard()
        return ended(f"the backup could not be run: {exc}")
    except BaseException:
        archive.discard()  # Ctrl-C or SIGTERM: no half file is left to count as a backup
        raise
    problem = _problem(
        result.exit_code,
        result.fatal,
        result.interrupted,
        result.timed_out,
        timeout_s,
        archive,
        request.image,
    )
    if problem is None:
        try:
            archive.keep()
        except OSError as exc:
            problem = f"cannot name the backup {destination}: {exc.strerror or exc}"
    if problem is not None:
        archive.discard()
    return ended(problem, result.exit_code, result.fatal)


def _problem(
    exit_code: int | None,
    fatal: str | None,
    interrupted: bool,
    timed_out: bool,
    timeout_s: float,
    archive: ArchiveFile,
    image: str,
) -> str | None:
    if archive.error is not None:
        return f"the backup was stopped: {archive.error}"
    if interrupted:
        return "the backup was stopped before it finished; take it again"
    if timed_out:
        return (
            f"the backup did not finish within {timeout_s:g} s (--upgrade-timeout bounds it); "
            "take it again or raise the timeout"
        )
    if exit_code != 0 or fatal is not None:
        status = "no exit status" if exit_code is None else f"exit status {exit_code}"
        detail = f": {one_line(fatal_message(fatal))}" if fatal else ""
        return (
            f"the bootstrapper's backup ({image}) failed with {status}{detail}; see backup.log "
            "in the bundle, fix the cause and run again"
        )
    if archive.size == 0:
        return (
            f"the bootstrapper's backup ({image}) ended with status 0 but printed nothing: the "
            "archive is empty; see backup.log in the bundle and run again"
        )
    return None
