"""The evidence bundle of one session: the folder it is staged in and named at the end, its
report files, the room it needs, sealing, and the bundles that killed sessions left behind."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from xml.etree import ElementTree

from upgrade.evidence import integrity, signing
from upgrade.evidence.files import atomic_write, write_json
from upgrade.evidence.records import CheckRecord, iso
from upgrade.rules.verdict import NOT_RUN, NOT_RUN_LABELS

REPORT_NAME: Final = "report.html"
JUNIT_NAME: Final = "junit.xml"
UPGRADE_LOG: Final = "upgrade.log"
EVIDENCE_DIR: Final = "evidence"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bundle_name(started_at: datetime, target: str, from_v: str | None, to_v: str | None) -> str:
    """`<UTC time>-<target>-<from>-<to>`, safe as a folder name."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    host = _UNSAFE.sub("_", target.removeprefix("https://")).strip("_") or "target"
    return f"{stamp}-{host}-{from_v or 'unknown'}-{to_v or 'none'}"


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
        self._reserved = False

    def file(self, name: str) -> Path:
        """The path of a file inside the bundle."""
        return self.path / name

    def final_path(self, from_v: str | None, to_v: str | None) -> Path:
        """The name the bundle will get, chosen once (so result.json can cite it) and reserved
        at once as an empty folder: two sessions of the same second in one report folder
        cannot choose the same name (the first free `-N` suffix is taken). A folder that cannot
        be made (a full disk) leaves the name chosen but not reserved, as a rename still may
        succeed; so does running out of suffixes (the session's pid is the last one tried):
        choosing a name never fails the session's end."""
        if self._final is None:
            final = self.report_dir / bundle_name(self.started_at, self.target, from_v, to_v)
            for suffix in range(1, _MAX_SUFFIX + 1):
                candidate = final if suffix == 1 else final.with_name(f"{final.name}-{suffix}")
                try:
                    candidate.mkdir()
                except FileExistsError:
                    continue
                except OSError:
                    if candidate.exists():
                        continue
                else:
                    self._reserved = True
                    # Whose reservation it is, for the next session if this one is killed
                    # before its rename (`remove_abandoned_names`).
                    with contextlib.suppress(OSError):
                        (candidate / f"{_RESERVED}{os.getpid()}").touch()
                self._final = candidate
                break
            else:
                self._final = final.with_name(f"{final.name}-{os.getpid()}")
        return self._final

    def finalise(self, from_v: str | None, to_v: str | None) -> Path:
        """Give the bundle its final name (renamed onto the empty folder reserved for it) and
        point `latest` at it. A failed rename frees the reserved name and leaves it staged."""
        candidate = self.final_path(from_v, to_v)
        with contextlib.suppress(OSError):
            (candidate / f"{_RESERVED}{os.getpid()}").unlink()  # the rename needs it empty
        try:
            os.replace(self.path, candidate)
        except OSError:
            self.release()
            raise
        self.path = candidate
        latest = self.report_dir / "latest"
        tmp_link = self.report_dir / f".latest-{os.getpid()}"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(candidate.name)
        os.replace(tmp_link, latest)
        return candidate

    def release(self) -> None:
        """Remove the final name's reserved folder if the bundle was not renamed onto it."""
        if self._reserved and self._final is not None and self._final != self.path:
            self._reserved = False
            with contextlib.suppress(OSError):
                (self._final / f"{_RESERVED}{os.getpid()}").unlink()
            with contextlib.suppress(OSError):
                self._final.rmdir()  # only ever empty: a folder with files is not ours to remove

    def discard(self) -> None:
        """Remove the staged bundle and its reserved final name (a refused session)."""
        self.release()
        shutil.rmtree(self.path, ignore_errors=True)


# How many bundles of one second, target and versions a report folder can hold.
_MAX_SUFFIX: Final = 1000

UNFINISHED_NOTE = "UNFINISHED.json"
# The file in a reserved final name that says which session reserved it: `.reserved-<pid>`.
_RESERVED: Final = ".reserved-"
# An empty folder left between a marker's removal and its rename is someone's only this long.
_EMPTY_GRACE_S: Final = 60.0
_STAGED = re.compile(r"^\.incomplete-(\d{8}T\d{6})\d*Z-(\d+)$")
_FINAL = re.compile(r"^\d{8}T\d{6}Z-")


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


def remove_abandoned_names(report_dir: Path, now: float | None = None) -> list[Path]:
    """Remove the final names that sessions reserved but never renamed a bundle onto (they
    were killed in between): a folder holding only its `.reserved-<pid>` of a dead pid, or
    nothing for over a minute. No bundle is ever such a folder; the removed ones are returned."""
    if not report_dir.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for entry in sorted(report_dir.iterdir()):
        if not _FINAL.match(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            names = [p.name for p in entry.iterdir()]
            if names and not (len(names) == 1 and names[0].startswith(_RESERVED)):
                continue
            if names:
                pid = names[0].removeprefix(_RESERVED)
                if not pid.isdigit() or _alive(int(pid)):
                    continue
                (entry / names[0]).unlink()
            elif now - entry.stat().st_mtime < _EMPTY_GRACE_S:
                continue
            entry.rmdir()
        except OSError:
            continue
        removed.append(entry)
    return removed


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


def add_unrun_to_junit(path: Path, records: Sequence[CheckRecord]) -> None:
    """Add a testcase for every check that did not run, so a CI's test view shows it: a
    deselected or never started check as skipped, an interrupted one as an error (pytest's
    junitxml lists only what ran)."""
    unrun = [r for r in records if r.outcome in NOT_RUN]
    if not unrun or not path.is_file():
        return
    tree = ElementTree.parse(path)  # noqa: S314 - the file junitxml just wrote
    suite = tree.getroot().find("testsuite")
    if suite is None:
        return
    for record in unrun:
        module, _, name = record.nodeid.partition("::")
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=module.removesuffix(".py").replace("/", "."),
            name=name or module,
            time="0",
        )
        kind = "error" if record.outcome == "interrupted" else "skipped"
        child = ElementTree.SubElement(case, kind, type=f"dtr-upgrade.{record.outcome}")
        child.set("message", f"{record.check_id}: {NOT_RUN_LABELS[record.outcome]}")
        counter = "errors" if kind == "error" else "skipped"
        suite.set(counter, str(int(suite.get(counter, "0")) + 1))
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    atomic_write(path, ElementTree.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))


def unwritten(bundle: Path, *, html: bool = True) -> list[str]:
    """The report files of a bundle that are missing or were cut short (a full disk);
    `html=False` when no HTML report was asked for (pytest-html disabled)."""
    expected = [(JUNIT_NAME, b">")]
    if html:
        expected.insert(0, (REPORT_NAME, b"</html>"))
    problems = []
    for name, ending in expected:
        path = bundle / name
        if not path.is_file():
            problems.append(f"{name}: not written")
        elif not path.read_bytes().rstrip().endswith(ending):
            problems.append(f"{name}: cut short ({path.stat().st_size} bytes)")
    return problems


def seal(
    directory: Path, redactors: Sequence[Callable[[str], str]], sign_key: Path | None
) -> list[str]:
    """Redact every file of the bundle, write SHA256SUMS, sign it with `sign_key` if given.

    Returns what went wrong, one line each (an unsealed or unsigned bundle is still the
    session's evidence and is named all the same).
    """
    try:
        sealed = integrity.seal(directory, redactors)
    except integrity.IntegrityError as exc:
        return [f"the bundle was not sealed: {exc}"]
    if sign_key is None:
        return []
    try:
        signing.sign(sealed.sums, sign_key)
    except signing.SigningError as exc:
        return [f"the bundle was sealed but NOT signed: {exc}"]
    return []
