"""The upgrade lock: one session per DTR on a machine, the holder named, never stale."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lab.sessions import ROOT
from upgrade.procedure import lock, lock_holder
from upgrade.procedure.lock_holder import Holder, LockError, LockHeld

URL = "https://dtr.example.com"
STARTED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CHILD_TIMEOUT_S = 30

# A session in another process: takes the lock, says so, and holds it until its stdin closes.
HOLDING_CHILD = """
import sys
from upgrade.procedure import lock, lock_holder
holder = lock_holder.Holder.of_this_process(sys.argv[1], command=["pytest", "--apply"], bundle="b")
try:
    held = lock.acquire(sys.argv[1], holder)
except lock_holder.LockHeld as exc:
    print("refused", exc.holder.pid if exc.holder else "unknown", flush=True)
    sys.exit(3)
print("locked", flush=True)
sys.stdin.read()
held.release()
"""


def holder(pid: int = 1234, command: tuple[str, ...] = ("pytest", "--apply")) -> Holder:
    return Holder(
        target=URL,
        pid=pid,
        host="ops-1",
        user="alice",
        started_at=STARTED,
        command=command,
        bundle="reports/20260304T050607Z-dtr",
    )


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lock directory of this test's own, also given to child processes."""
    directory = tmp_path / "locks"
    monkeypatch.setenv(lock.LOCK_DIR_VARIABLE, str(directory))
    return directory


def start_child(url: str = URL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDING_CHILD, url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def first_line(child: subprocess.Popen[str]) -> str:
    """The child's first output line, within a bound (a silent child fails the test)."""
    assert child.stdout is not None
    ready = select.select([child.stdout], [], [], CHILD_TIMEOUT_S)[0]
    assert ready, "the child said nothing"
    return child.stdout.readline().strip()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes to end after the test."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=CHILD_TIMEOUT_S)


def test_acquire_writes_the_holder_and_release_clears_it(lock_dir: Path) -> None:
    held = lock.acquire(URL, holder())
    assert held.held
    data = json.loads(held.path.read_text())
    assert data["pid"] == 1234
    assert data["started_at"] == "2026-03-04T05:06:07Z"
    assert data["command"] == ["pytest", "--apply"]
    assert lock.read_holder(URL) == holder()
    held.release()
    assert not held.held
    assert held.path.read_text() == ""
    held.release()
    held.release()


def test_context_manager_releases_and_the_lock_can_be_taken_again(lock_dir: Path) -> None:
    with lock.acquire(URL, holder()) as held:
        assert held.held
    assert not held.held
    with lock.acquire(URL, holder(pid=99)) as again:
        assert again.holder.pid == 99


def test_second_session_is_refused_in_one_line_naming_the_holder(lock_dir: Path) -> None:
    command = ("pytest", "--target=dtr.example.com", "--to-version=2.6.4", "--apply")
    with lock.acquire(URL, holder(command=command)), pytest.raises(LockHeld) as refused:
        lock.acquire("DTR.example.com:443/", holder(pid=5678))
    assert refused.value.holder == holder(command=command)
    assert str(refused.value) == (
        "another session holds the upgrade lock of https://dtr.example.com: pid 1234 on host "
        "ops-1 (user alice), started 2026-03-04T05:06:07Z, `pytest --target=dtr.example.com "
        "--to-version=2.6.4 --apply`, bundle reports/20260304T050607Z-dtr; wait for it to "
        "finish or stop it"
    )


def test_other_targets_have_their_own_lock(lock_dir: Path) -> None:
    with lock.acquire(URL, holder()), lock.acquire("https://dtr.example.com:4443", holder()):
        pass


@pytest.mark.parametrize(
    ("given_url", "normal"),
    [
        ("dtr.example.com", URL),
        ("HTTPS://DTR.Example.COM/", URL),
        ("https://dtr.example.com:443", URL),
        ("https://admin:secret@dtr.example.com", URL),
        ("https://dtr.example.com:4443/", "https://dtr.example.com:4443"),
        ("http://dtr.example.com:80", "http://dtr.example.com"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_the_lock_key_is_the_normalised_url(given_url: str, normal: str) -> None:
    assert lock_holder.normalise_target(given_url) == normal
    assert lock.lock_path(given_url, Path("/x")) == lock.lock_path(normal, Path("/x"))


def test_the_file_name_is_a_hash_and_the_url_is_inside(lock_dir: Path) -> None:
    with lock.acquire("https://admin:pw@dtr.example.com", holder()) as held:
        assert "example" not in held.path.name
        assert held.path.name.startswith("dtr-")
        assert json.loads(held.path.read_text())["target"] == URL
        assert "pw" not in held.path.read_text()


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(LockError, match="names no host"):
        lock_holder.normalise_target("https://")


def test_another_process_is_refused_and_sees_the_holder(
    lock_dir: Path, children: list[subprocess.Popen[str]]
) -> None:
    child = start_child()
    children.append(child)
    assert first_line(child) == "locked"
    with pytest.raises(LockHeld) as refused:
        lock.acquire(URL, holder())
    found = refused.value.holder
    assert found is not None
    assert found.pid == child.pid
    assert found.command == ("pytest", "--apply")
    assert found.bundle == "b"
    assert found.started_at.tzinfo is not None


def test_sigkill_of_the_holder_frees_the_lock(
    lock_dir: Path, children: list[subprocess.Popen[str]]
) -> None:
    child = start_child()
    children.append(child)
    assert first_line(child) == "locked"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=CHILD_TIMEOUT_S)
    with lock.acquire(URL, holder(pid=4321)) as held:
        assert lock.read_holder(URL) == holder(pid=4321)
        assert held.held


def test_of_several_contending_processes_exactly_one_wins(
    lock_dir: Path, children: list[subprocess.Popen[str]]
) -> None:
    started = [start_child() for _ in range(4)]
    children.extend(started)
    lines = {child.pid: first_line(child) for child in started}
    winners = [pid for pid, line in lines.items() if line == "locked"]
    assert len(winners) == 1, lines
    refusals = [line for line in lines.values() if line != "locked"]
    assert refusals == [f"refused {winners[0]}"] * 3, lines


def test_a_holder_being_written_or_garbage_is_unknown_but_named(lock_dir: Path) -> None:
    path = lock.lock_path(URL)
    with lock.acquire(URL, holder()):
        pass
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for content in (b"", b'{"pid": 12', b"\xff\xfe garbage", b'{"pid": "x"}', b"[1, 2]"):
            os.ftruncate(fd, 0)
            os.pwrite(fd, content, 0)
            with pytest.raises(LockHeld) as refused:
                lock.acquire(URL, holder(pid=5678))
            assert refused.value.holder is None
            message = str(refused.value)
            assert "\n" not in message
            assert f"holder unknown (see {path})" in message
            assert message.endswith("wait for it to finish or stop it")
    finally:
        os.close(fd)


def test_garbage_left_in_a_free_lock_is_overwritten(lock_dir: Path) -> None:
    path = lock.lock_path(URL)
    lock_dir.mkdir()
    path.write_bytes(b"\x00garbage that is much longer than any holder record would be" * 100)
    with lock.acquire(URL, holder()):
        assert lock.read_holder(URL) == holder()


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_reading_any_holder_file_never_crashes(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = lock.lock_path(URL, Path(folder))
        path.write_bytes(content)
        found = lock.read_holder(URL, Path(folder), settle_s=0)
        assert found is None or isinstance(found, Holder)


def test_the_directory_is_created_shared_and_the_file_writable_by_all(lock_dir: Path) -> None:
    with lock.acquire(URL, holder()) as held:
        assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o1777
        assert stat.S_IMODE(held.path.stat().st_mode) == 0o666


def test_the_default_directory_is_under_the_temporary_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(lock.LOCK_DIR_VARIABLE, raising=False)
    assert lock.default_directory() == Path(tempfile.gettempdir()) / "dtr-upgrade-locks"


def test_an_explicit_directory_beats_the_environment(lock_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    with lock.acquire(URL, holder(), directory=elsewhere) as held:
        assert held.path.parent == elsewhere
        assert not lock_dir.exists()


def test_a_symlinked_directory_is_refused(lock_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    lock_dir.symlink_to(tmp_path / "real")
    with pytest.raises(LockError, match="not a directory"):
        lock.acquire(URL, holder())


def test_a_symlinked_lock_file_is_refused(lock_dir: Path, tmp_path: Path) -> None:
    lock_dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep")
    lock.lock_path(URL).symlink_to(victim)
    with pytest.raises(LockError, match="symbolic link"):
        lock.acquire(URL, holder())
    assert victim.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_a_foreign_world_writable_directory_without_sticky_bit_is_refused(lock_dir: Path) -> None:
    lock_dir.mkdir()
    lock_dir.chmod(0o777)
    os.chown(lock_dir, 12345, 12345)
    with pytest.raises(LockError, match="sticky bit"):
        lock.acquire(URL, holder())


def test_an_own_directory_without_sticky_bit_is_repaired(lock_dir: Path) -> None:
    lock_dir.mkdir()
    lock_dir.chmod(0o777)
    with lock.acquire(URL, holder()):
        assert lock_dir.stat().st_mode & stat.S_ISVTX


def test_this_process_as_holder() -> None:
    me = Holder.of_this_process("dtr.example.com", bundle=Path("reports/x"))
    assert me.pid == os.getpid()
    assert me.target == URL
    assert me.command == tuple(sys.argv)
    assert me.bundle == "reports/x"
    assert me.started_at.tzinfo == UTC
    assert Holder.from_dict(me.as_dict()) == replace(
        me, started_at=me.started_at.replace(microsecond=0)
    )
