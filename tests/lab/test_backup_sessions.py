"""--backup=take[:PATH] in lab sessions: taken before PRE-BACKUP judges it, a failed or empty
backup is NO-GO and nothing is upgraded, a backup taken elsewhere is judged as before, a stop
mid-backup leaves no half file, and the UCP password is nowhere in the output or the bundle."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrlab.backup import write_backup
from tests.lab.sessions import ROOT, Session, run_session, session_argv

UCP_SECRET = "ucp-Backup-S3cret-" + uuid.uuid4().hex[:8]
ENV = {"UCP_USERNAME": "admin", "UCP_PASSWORD": UCP_SECRET}


def _taken(session: Session) -> dict[str, Any]:
    (check,) = session.checks("PRE-BACKUP")
    taken = check["evidence"]["taken"]
    assert isinstance(taken, dict)
    return taken


def _backups(tmp_path: Path) -> list[str]:
    folder = tmp_path / "reports" / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _bundle_bytes(bundle: Path) -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for p in bundle.rglob("*") if p.is_file()]


def test_taken_backup_is_checked_like_a_given_one(tmp_path: Path) -> None:
    session = run_session(tmp_path, "--to-version=2.6.4", "--backup=take", env=ENV)
    assert session.status == 0, session.output
    assert session.result["verdict"] == "GO"
    taken = _taken(session)
    path = Path(taken["path"])
    assert path.parent == tmp_path / "reports" / "backups"
    assert path.name.startswith("dtr-metadata-2.5.11-backup-")
    data = path.read_bytes()
    assert taken["size_bytes"] == len(data) > 0
    assert taken["sha256"] == hashlib.sha256(data).hexdigest()
    assert taken["exit_code"] == 0
    assert "preflight only" in taken["session"]
    assert " backup --ucp-url https://127.0.0.1:" in taken["command"]
    assert "--existing-replica-id " in taken["command"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert _backups(tmp_path) == [path.name]
    for check_id in ("PRE-BACKUP-READABLE", "PRE-BACKUP-VERSION"):
        assert [c["outcome"] for c in session.checks(check_id)] == ["passed"], check_id
    (readable,) = session.checks("PRE-BACKUP-READABLE")
    assert readable["evidence"]["backup"]["sha256"] == taken["sha256"]
    log = (session.bundle / "backup.log").read_text()
    assert "Backing up replica" in log
    assert "backup taken:" in session.output
    # The password went to the bootstrapper only through its environment.
    assert UCP_SECRET not in session.output
    for name, content in _bundle_bytes(session.bundle):
        assert UCP_SECRET.encode() not in content, name
    assert UCP_SECRET.encode() not in data


def test_take_to_a_named_file_before_an_upgrade(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "nightly.tar"
    target.parent.mkdir()
    session = run_session(
        tmp_path, "--to-version=2.6.4", "--apply", f"--backup=take:{target}", env=ENV
    )
    assert session.status == 0, session.output
    assert session.result["verdict"] == "UPGRADED"
    taken = _taken(session)
    assert taken["path"] == str(target)
    assert "before the upgrade" in taken["session"]
    assert target.stat().st_size == taken["size_bytes"]
    assert _backups(tmp_path) == []


def test_failed_backup_is_no_go_and_nothing_is_upgraded(tmp_path: Path) -> None:
    session = run_session(
        tmp_path,
        "--to-version=2.6.4",
        "--apply",
        "--backup=take",
        "--lab-scenario=backup-fails",
        env=ENV,
    )
    assert session.status == 1, session.output
    assert session.result["verdict"] == "NO-GO"
    assert session.failed_ids() == {"PRE-BACKUP"}
    (check,) = session.checks("PRE-BACKUP")
    assert "failed with exit status 1" in check["message"]
    assert "Failed to create backup" in check["message"]
    taken = _taken(session)
    assert taken["taken"] is False
    assert taken["path"] is None
    assert taken["exit_code"] == 1
    assert taken["size_bytes"] > 0  # half an archive arrived, and was not kept
    assert _backups(tmp_path) == []
    assert "upgrade" not in session.result  # the bootstrapper's upgrade never ran
    assert "PRE-BACKUP" in session.last_line
    assert "nothing was changed" in session.last_line
    for check_id in ("PRE-BACKUP-READABLE", "PRE-BACKUP-VERSION"):
        assert [c["outcome"] for c in session.checks(check_id)] == ["skipped"], check_id


def test_empty_backup_is_no_go(tmp_path: Path) -> None:
    session = run_session(
        tmp_path, "--to-version=2.6.4", "--backup=take", "--lab-scenario=backup-empty", env=ENV
    )
    assert session.status == 1, session.output
    assert session.result["verdict"] == "NO-GO"
    assert session.failed_ids() == {"PRE-BACKUP"}
    (check,) = session.checks("PRE-BACKUP")
    assert "printed nothing: the archive is empty" in check["message"]
    assert _taken(session)["size_bytes"] == 0
    assert _backups(tmp_path) == []


def test_a_backup_taken_elsewhere_is_still_judged_by_its_age(tmp_path: Path) -> None:
    old = write_backup(tmp_path / "given", "2.5.11", "5eb9459a7832", {}, age=timedelta(days=2))
    session = run_session(tmp_path, "--to-version=2.6.4", f"--backup={old}")
    assert session.result["verdict"] == "NO-GO"
    assert session.failed_ids() == {"PRE-BACKUP"}
    (check,) = session.checks("PRE-BACKUP")
    assert "48.0 h old" in check["message"]
    assert "taken" not in check["evidence"]


def _copied_old(tmp_path: Path) -> Path:
    old = write_backup(tmp_path / "old", "2.5.11", "5eb9459a7832", {}, age=timedelta(days=60))
    copy = tmp_path / "new.tar"
    shutil.copyfile(old, copy)  # `cp`: the file is new, its members are not
    return copy


def _dated_tomorrow(tmp_path: Path) -> Path:
    path = write_backup(tmp_path / "given", "2.5.11", "5eb9459a7832", {})
    tomorrow = time.time() + 86400
    os.utime(path, (tomorrow, tomorrow))  # `touch -d tomorrow`
    return path


def _hand_made(tmp_path: Path) -> Path:
    path = tmp_path / "hand.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("dtr-backup-v2.5.11/rethink/tags/0")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    return path


@pytest.mark.parametrize(
    ("make", "failed", "message"),
    [
        (_copied_old, "PRE-BACKUP", "1440.0 h old by its members' newest modification time"),
        (_dated_tomorrow, "PRE-BACKUP", "file is dated in the future"),
        (_hand_made, "PRE-BACKUP-READABLE", "no file in dtr-backup-v2.5.11/rethink/properties/"),
    ],
    ids=["copied-old", "dated-tomorrow", "no-properties"],
)
def test_a_given_backup_is_judged_by_what_it_holds(
    tmp_path: Path, make: Callable[[Path], Path], failed: str, message: str
) -> None:
    session = run_session(tmp_path, "--to-version=2.6.4", f"--backup={make(tmp_path)}")
    assert session.result["verdict"] == "NO-GO", session.output
    assert session.failed_ids() == {failed}
    (check,) = session.checks(failed)
    assert message in check["message"]


def test_take_onto_an_existing_file_is_a_usage_error(tmp_path: Path) -> None:
    existing = tmp_path / "earlier.tar"
    existing.write_bytes(b"an earlier backup")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--target=lab",
            f"--report-dir={tmp_path / 'reports'}",
            "--to-version=2.6.4",
            f"--backup=take:{existing}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "never written over" in proc.stdout + proc.stderr
    assert existing.read_bytes() == b"an earlier backup"


def _slow_backup_session(reports: Path, tag: str) -> subprocess.Popen[bytes]:
    """An --apply session taking a slow backup; returns once the archive is being written."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--target=lab",
            f"--report-dir={reports}",
            "--to-version=2.6.4",
            "--apply",
            "--backup=take",
            "--lab-scenario=backup-slow",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV, "DTRLAB_TEST_TAG": tag},
    )
    folder = reports / "backups"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(folder.glob("*.partial")) if folder.is_dir() else []
        if partial and partial[0].stat().st_size > 0:
            return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError("the backup never started writing")


def test_sigkill_mid_backup_leaves_a_file_the_next_session_names(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    tag = uuid.uuid4().hex
    killed = _slow_backup_session(reports, tag)
    killed.kill()  # no handler runs: the partial file stays behind
    killed.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while _tagged_bootstrappers(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    (partial,) = (reports / "backups").glob("*.partial")
    session = run_session(tmp_path, "--to-version=2.6.4", "--backup=take", env=ENV)
    unfinished = partial.with_name(partial.name.removesuffix(".partial") + ".unfinished")
    assert unfinished.is_file()
    assert not partial.exists()
    assert f"{unfinished} (" in session.output
    assert "is not a backup" in session.output
    assert session.result["verdict"] == "GO", session.output
    assert _taken(session)["path"] != str(unfinished)


def test_sigterm_mid_backup_leaves_no_half_file(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    tag = uuid.uuid4().hex
    proc = _slow_backup_session(reports, tag)
    folder = reports / "backups"
    try:
        # While it runs: the password is in the bootstrapper's environment, not its argv.
        running = _tagged_bootstrappers(tag)
        assert running, "no backup bootstrapper found running"
        for pid in running:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b" backup " in cmdline.replace(b"\0", b" "), cmdline
            assert UCP_SECRET.encode() not in cmdline
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"UCP_PASSWORD={UCP_SECRET}".encode() in environ
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = output.decode(errors="replace")
    assert proc.returncode != 0, text
    assert text.rstrip().splitlines()[-1].startswith("VERDICT: INTERRUPTED"), text
    assert sorted(p.name for p in folder.iterdir()) == []
    latest = (reports / "latest").resolve()
    assert (latest / "result.json").is_file()
    assert not _tagged_bootstrappers(tag), "a backup bootstrapper outlived its session"


def _tagged_bootstrappers(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"DTRLAB_TEST_TAG={tag}".encode() in environ.split(b"\0") and b"\0backup\0" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["--backup=take"],
        ["--backup=take", "--phase=post", "--to-version=2.6.4", "--baseline={baseline}"],
    ],
    ids=["health session", "post phase"],
)
def test_take_in_a_session_without_preflight_is_refused_not_ignored(
    tmp_path: Path, args: list[str]
) -> None:
    """A health check or a --phase=post session takes no backup: asked for one, it says so at
    start instead of ending with a verdict the operator reads as 'backed up'."""
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{}")
    proc = subprocess.run(
        session_argv(tmp_path / "reports", *(a.format(baseline=baseline) for a in args)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "--backup=take takes the backup a preflight needs before an upgrade" in proc.stderr
    assert not (tmp_path / "reports").exists()
