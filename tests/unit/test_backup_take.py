"""--backup=take[:PATH]: the option, the partial file and its rules, and `backup` run by the
lab-process executor (stdout the archive, stderr the log, the password only in the
environment)."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.bootstrapper_requests import SECRET, make_request
from upgrade.config.backup_option import BackupOption, parse_backup_option
from upgrade.config.values import SettingsError
from upgrade.procedure.backup_run import (
    PARTIAL_SUFFIX,
    ArchiveFile,
    BackupStopped,
    backup_name,
    name_abandoned,
    shown_command,
    take,
)
from upgrade.procedure.bootstrapper import (
    AttemptResult,
    BootstrapperRequest,
    ExecutorError,
    ImageInfo,
)
from upgrade.procedure.executor import Attempt, DataSink, Executor, LineCallback
from upgrade.procedure.process_executor import SubprocessExecutor

ARCHIVE = bytes(range(256)) * 64 + b"\n\xff\xfe not utf-8 \r\n"
PLENTY = 1 << 40


def backup_request(**overrides: Any) -> BootstrapperRequest:
    """The running version's (2.5.11) `backup` request; `overrides` replace fields."""
    values: dict[str, Any] = {
        "image": "docker/dtr:2.5.11", "target_version": "2.5.11", "command": "backup",
    }  # fmt: skip
    return make_request(**{**values, **overrides})


# -- the option ----------------------------------------------------------------------------


def test_backup_option_forms(tmp_path: Path) -> None:
    assert parse_backup_option(None) == BackupOption()
    assert parse_backup_option("dtr.tar") == BackupOption(given=Path("dtr.tar"))
    assert parse_backup_option("./take") == BackupOption(given=Path("take"))
    assert parse_backup_option("take") == BackupOption(take=True)
    assert parse_backup_option(f"take:{tmp_path}") == BackupOption(take=True, to=tmp_path)
    new = tmp_path / "new.tar"
    assert parse_backup_option(f"take:{new}") == BackupOption(take=True, to=new)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "old.tar", "never written over"),
        (lambda p: p / "missing" / "b.tar", "does not exist"),
        (lambda p: None, "no PATH after take:"),
        # Writable by access() for root, but no file can be created there.
        (lambda p: Path("/proc"), "cannot create a file in /proc|folder /proc is not writable"),
    ],
)
def test_backup_option_refusals(
    tmp_path: Path, make: Callable[[Path], Path | None], words: str
) -> None:
    (tmp_path / "old.tar").write_bytes(b"x")
    path = make(tmp_path)
    with pytest.raises(SettingsError, match=words):
        parse_backup_option(f"take:{path if path is not None else ''}")


def test_a_killed_sessions_partial_file_is_named_and_a_running_ones_is_not(
    tmp_path: Path,
) -> None:
    killed = tmp_path / "dtr-metadata-2.5.11-backup-20261201-10_00_00.tar.partial"
    killed.write_bytes(b"half an archive")  # nobody holds it: its session is gone
    running = ArchiveFile(tmp_path / "dtr-metadata-2.5.11-backup-20261201-11_00_00.tar")
    running.write(b"being written")
    running.close()  # closed but not yet kept: still held
    named = name_abandoned(tmp_path)
    unfinished = tmp_path / "dtr-metadata-2.5.11-backup-20261201-10_00_00.tar.unfinished"
    assert named == [(unfinished, len(b"half an archive"))]
    assert unfinished.is_file()
    assert not killed.exists()
    assert running.partial.is_file(), "a running session's file was taken"
    running.keep()
    assert running.final.read_bytes() == b"being written"
    assert name_abandoned(tmp_path) == [], "a file is named twice"


def test_documented_name_and_command() -> None:
    moment = datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)
    assert backup_name("2.5.11", moment) == "dtr-metadata-2.5.11-backup-20261202-01_02_03.tar"
    shown = shown_command(backup_request(), "/b/x.tar")
    assert shown.startswith("docker run --log-driver none -i --rm --env UCP_PASSWORD ")
    assert "docker/dtr:2.5.11 backup --ucp-url https://ucp.example.com" in shown
    assert "--existing-replica-id 5eb9459a7832" in shown
    assert shown.endswith("> /b/x.tar")
    assert SECRET not in shown
    assert "BEGIN CERTIFICATE" not in shown


# -- the partial file ----------------------------------------------------------------------


def test_archive_file_hashes_and_is_private(tmp_path: Path) -> None:
    archive = ArchiveFile(tmp_path / "b.tar", reserve=0, free_bytes=lambda _: PLENTY)
    archive.write(ARCHIVE[:100])
    archive.write(ARCHIVE[100:])
    archive.close()
    assert archive.size == len(ARCHIVE)
    assert archive.sha256 == hashlib.sha256(ARCHIVE).hexdigest()
    assert stat.S_IMODE(archive.partial.stat().st_mode) == 0o600
    archive.keep()
    assert (tmp_path / "b.tar").read_bytes() == ARCHIVE
    assert not archive.partial.exists()


def test_archive_file_keeps_the_reserve(tmp_path: Path) -> None:
    free = [10_000]
    archive = ArchiveFile(tmp_path / "b.tar", reserve=9_000, free_bytes=lambda _: free[0])
    archive.write(b"x" * 500)
    free[0] = 9_100
    with pytest.raises(BackupStopped, match="less than 0 MiB free after 500 bytes"):
        archive.write(b"x" * 8 * 1024 * 1024)
    assert archive.error is not None
    with pytest.raises(BackupStopped):
        archive.write(b"more")
    archive.discard()
    assert list(tmp_path.iterdir()) == []


# -- one run, with a scripted executor -------------------------------------------------------


class ScriptedExecutor(Executor):
    """Feeds `chunks` to the sink and `lines` to on_line, then ends as `result` says."""

    def __init__(
        self,
        chunks: list[bytes],
        exit_code: int | None = 0,
        fatal: str | None = None,
        raise_after: BaseException | None = None,
    ) -> None:
        super().__init__()
        self.chunks = chunks
        self.exit_code = exit_code
        self.fatal = fatal
        self.raise_after = raise_after
        self.requests: list[BootstrapperRequest] = []

    def prepare(self, request: BootstrapperRequest) -> ImageInfo:
        return ImageInfo(request.image, "sha256:" + "a" * 64, True)

    def _start(self, request: BootstrapperRequest) -> Attempt:
        raise AssertionError("only backup runs here")

    def run_backup(
        self,
        request: BootstrapperRequest,
        sink: DataSink,
        on_line: LineCallback,
        timeout_s: float,
    ) -> AttemptResult:
        self.requests.append(request)
        on_line('time="..." level=info msg="Backing up replica 5eb9459a7832"')
        for chunk in self.chunks:
            try:
                sink(chunk)
            except BackupStopped:
                return AttemptResult(137, None, datetime.now(UTC), 0.1)
        if self.raise_after is not None:
            raise self.raise_after
        return AttemptResult(self.exit_code, self.fatal, datetime.now(UTC), 0.1)


def _take(executor: Executor, tmp_path: Path, **kwargs: Any) -> Any:
    lines: list[str] = []
    kwargs.setdefault("free_bytes", lambda _: PLENTY)
    taken = take(executor, backup_request(), tmp_path / "b.tar", 60.0, lines.append, **kwargs)
    return taken, lines


def test_a_taken_backup_is_named_and_recorded(tmp_path: Path) -> None:
    taken, lines = _take(ScriptedExecutor([ARCHIVE[:7], ARCHIVE[7:]]), tmp_path)
    assert taken.ok, taken.problem
    assert taken.path == tmp_path / "b.tar"
    assert taken.path.read_bytes() == ARCHIVE
    assert taken.size == len(ARCHIVE)
    assert taken.sha256 == hashlib.sha256(ARCHIVE).hexdigest()
    assert taken.image_digest == "sha256:" + "a" * 64
    assert lines
    record = taken.as_dict()
    assert record["taken"] is True
    assert record["size_bytes"] == len(ARCHIVE)
    assert record["exit_code"] == 0
    assert SECRET not in repr(record)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar"]


@pytest.mark.parametrize(
    ("executor", "words"),
    [
        (
            ScriptedExecutor([ARCHIVE[:10]], exit_code=1, fatal="FATA[0001] lost rethinkdb"),
            "failed with exit status 1: FATA[0001] lost rethinkdb",
        ),
        (ScriptedExecutor([ARCHIVE], exit_code=0, fatal='level=fatal msg="x"'), "failed with"),
        (ScriptedExecutor([], exit_code=0), "printed nothing: the archive is empty"),
        (ScriptedExecutor([ARCHIVE], exit_code=None), "no exit status"),
    ],
)
def test_a_failed_or_empty_backup_leaves_no_file(
    tmp_path: Path, executor: ScriptedExecutor, words: str
) -> None:
    taken, _ = _take(executor, tmp_path)
    assert not taken.ok
    assert taken.path is None
    assert words in (taken.problem or "")
    assert list(tmp_path.iterdir()) == []


def test_a_backup_that_would_eat_the_bundles_room_is_stopped(tmp_path: Path) -> None:
    free = iter([PLENTY, PLENTY, 1000])
    taken, _ = _take(
        ScriptedExecutor([ARCHIVE, b"y" * (9 * 1024 * 1024)]),
        tmp_path,
        free_bytes=lambda _: next(free),
        reserve=64 * 1024 * 1024,
    )
    assert not taken.ok
    assert "would keep less than 64 MiB free" in (taken.problem or "")
    assert list(tmp_path.iterdir()) == []


def test_no_room_at_all_runs_no_bootstrapper(tmp_path: Path) -> None:
    executor = ScriptedExecutor([ARCHIVE])
    taken, _ = _take(executor, tmp_path, free_bytes=lambda _: 10, reserve=1024)
    assert "only 0 MiB free" in (taken.problem or "")
    assert executor.requests == []


def test_an_existing_file_is_never_written_over(tmp_path: Path) -> None:
    (tmp_path / "b.tar").write_bytes(b"earlier")
    taken, _ = _take(ScriptedExecutor([ARCHIVE]), tmp_path)
    assert "never written over" in (taken.problem or "")
    assert (tmp_path / "b.tar").read_bytes() == b"earlier"


@pytest.mark.parametrize("stop", [KeyboardInterrupt("stopped by SIGTERM"), ExecutorError("gone")])
def test_an_interrupted_backup_leaves_no_half_file(tmp_path: Path, stop: BaseException) -> None:
    executor = ScriptedExecutor([ARCHIVE[:100]], raise_after=stop)
    if isinstance(stop, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            _take(executor, tmp_path)
    else:
        taken, _ = _take(executor, tmp_path)
        assert "could not be run: gone" in (taken.problem or "")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_prepare_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    class Unpullable(ScriptedExecutor):
        def prepare(self, request: BootstrapperRequest) -> ImageInfo:
            raise ExecutorError("cannot pull docker/dtr:2.5.11: not found")

    taken, _ = _take(Unpullable([ARCHIVE]), tmp_path)
    assert "could not be prepared: cannot pull" in (taken.problem or "")
    assert list(tmp_path.iterdir()) == []


# -- the process executor's `backup` ---------------------------------------------------------

PROGRAM = textwrap.dedent(
    """
    import os, sys, time
    args = sys.argv[1:]
    assert args[0] == "backup", args
    out = sys.stdout.buffer
    data = bytes(range(256)) * 64 + b"\\n\\xff\\xfe not utf-8 \\r\\n"
    for i in range(0, len(data), 1000):
        out.write(data[i:i + 1000]); out.flush()
        sys.stderr.write(f"level=info msg=chunk{i}\\n"); sys.stderr.flush()
    sys.stderr.write("password-in-env=" + str(os.environ.get("UCP_PASSWORD") == "SECRET") + "\\n")
    sys.stderr.write("argv=" + " ".join(args) + "\\n")
    if os.environ.get("SLOW"):
        time.sleep(30)
    code = int(os.environ.get("CODE", "0"))
    if code:
        sys.stderr.write('level=fatal msg="Backup failed"\\n')
    sys.exit(code)
    """
).replace("SECRET", SECRET)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "fake_dtr.py"
    path.write_text(PROGRAM)
    return path


def _executor(program: Path, **env: str) -> SubprocessExecutor:
    return SubprocessExecutor([sys.executable, str(program)], env={**os.environ, **env})


def test_process_backup_streams_the_archive_apart_from_the_log(program: Path) -> None:
    chunks: list[bytes] = []
    lines: list[str] = []
    result = _executor(program).run_backup(backup_request(), chunks.append, lines.append, 30)
    assert result.ok, lines
    assert b"".join(chunks) == ARCHIVE
    assert "password-in-env=True" in lines
    argv_line = next(line for line in lines if line.startswith("argv="))
    assert SECRET not in argv_line
    assert "--ucp-password" not in argv_line
    assert "backup --ucp-url https://ucp.example.com" in argv_line
    assert all("\ufffd" not in line for line in lines)


def test_process_backup_failure_is_its_status_and_fatal_line(program: Path) -> None:
    result = _executor(program, CODE="1").run_backup(
        backup_request(), lambda _: None, lambda _: None, 30
    )
    assert result.exit_code == 1
    assert result.fatal == 'level=fatal msg="Backup failed"'


def test_a_refusing_sink_stops_the_process(program: Path) -> None:
    def refuse(_: bytes) -> None:
        raise BackupStopped("disk full")

    result = _executor(program, SLOW="1").run_backup(backup_request(), refuse, lambda _: None, 30)
    assert not result.ok
    assert result.duration_s < 20
    assert result.exit_code is not None
    assert result.exit_code != 0


def test_stop_ends_a_running_process_backup(program: Path) -> None:
    executor = _executor(program, SLOW="1")
    timer = threading.Timer(1.0, executor.stop)
    timer.start()
    try:
        result = executor.run_backup(backup_request(), lambda _: None, lambda _: None, 30)
    finally:
        timer.cancel()
    assert result.interrupted
    assert result.duration_s < 20


def test_commands_cannot_be_mixed_up(program: Path) -> None:
    executor = _executor(program)
    with pytest.raises(ExecutorError, match="run_backup"):
        executor.run(backup_request(), lambda _: None, 30)
    with pytest.raises(ExecutorError, match="not `upgrade`"):
        executor.run_backup(backup_request(command="upgrade"), lambda _: None, lambda _: None, 30)
    with pytest.raises(ExecutorError, match="not one of upgrade, backup"):
        backup_request(command="restore")
    assert PARTIAL_SUFFIX == ".partial"


# -- the docker SDK executor's `backup`, with a fake engine ----------------------------------


class FakeBackupContainer:
    def __init__(self, calls: list[str], status: int) -> None:
        self.id = "c0ffee"
        self.short_id = "c0ffee"
        self.calls = calls
        self.status = status

    def start(self) -> None:
        self.calls.append("start")

    def wait(self, timeout: float) -> dict[str, int]:
        return {"StatusCode": self.status}

    def stop(self, timeout: int) -> None:
        self.calls.append("stop")

    def kill(self) -> None:
        self.calls.append("kill")

    def remove(self, force: bool) -> None:
        self.calls.append("remove")


class FakeBackupEngine:
    """containers.create, api.attach_socket (a socket pair carrying multiplexed frames)."""

    def __init__(self, frames: list[tuple[int, bytes]], status: int = 0) -> None:
        import socket
        import struct

        self.calls: list[str] = []
        self.created: dict[str, Any] = {}
        self.container = FakeBackupContainer(self.calls, status)
        ours, theirs = socket.socketpair()
        for stream, data in frames:
            theirs.sendall(struct.pack(">BxxxL", stream, len(data)) + data)
        theirs.close()
        self.socket = ours
        engine = self

        class Containers:
            def create(self, image: str, **kwargs: Any) -> FakeBackupContainer:
                engine.calls.append("create")
                engine.created = {"image": image, **kwargs}
                return engine.container

        class API:
            def attach_socket(self, container: str, params: dict[str, int]) -> Any:
                engine.calls.append("attach")
                assert params == {"stdout": 1, "stderr": 1, "stream": 1}
                return engine.socket

        self.containers = Containers()
        self.api = API()

    def close(self) -> None:
        pass


def test_docker_backup_is_attached_without_a_log_driver() -> None:
    from upgrade.procedure.docker_executor import DockerExecutor

    frames = [
        (1, ARCHIVE[:5000]),
        (2, b"level=info msg=one\nlevel=in"),
        (1, ARCHIVE[5000:]),
        (2, b"fo msg=two\n"),
    ]
    engine = FakeBackupEngine(frames)
    chunks: list[bytes] = []
    lines: list[str] = []
    with DockerExecutor(lambda: engine, network_mode="host") as executor:
        result = executor.run_backup(backup_request(), chunks.append, lines.append, 30)
    assert result.ok
    assert b"".join(chunks) == ARCHIVE
    assert lines == ["level=info msg=one", "level=info msg=two"]
    assert engine.calls[:3] == ["create", "attach", "start"]
    assert engine.calls[-1] == "remove"
    created = engine.created
    assert created["command"][0] == "backup"
    assert SECRET not in " ".join(created["command"])
    assert created["environment"]["UCP_PASSWORD"] == SECRET
    assert created["log_config"]["Type"] == "none"
    assert created["tty"] is False
    assert created["stdin_open"] is False
    assert created["network_mode"] == "host"
    assert engine.socket.fileno() == -1  # closed with the attempt


def test_docker_backup_status_decides() -> None:
    from upgrade.procedure.docker_executor import DockerExecutor

    engine = FakeBackupEngine([(1, ARCHIVE[:10]), (2, b'level=fatal msg="gone"\n')], status=1)
    with DockerExecutor(lambda: engine) as executor:
        result = executor.run_backup(backup_request(), lambda _: None, lambda _: None, 30)
    assert result.exit_code == 1
    assert result.fatal == 'level=fatal msg="gone"'


def test_the_fatal_lines_message_is_what_the_operator_reads(tmp_path: Path) -> None:
    line = 'time="2026-12-02T01:03:41Z" level=fatal msg="Failed to create backup: \\"tags\\""'
    taken, _ = _take(ScriptedExecutor([ARCHIVE[:10]], exit_code=1, fatal=line), tmp_path)
    assert (taken.problem or "").count('Failed to create backup: "tags"; see backup.log') == 1
    assert "level=fatal" not in (taken.problem or "")
    assert taken.fatal == line


def test_keep_without_hard_links_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    archive = ArchiveFile(tmp_path / "b.tar", reserve=0, free_bytes=lambda _: PLENTY)
    archive.write(ARCHIVE)
    archive.close()
    monkeypatch.setattr(os, "link", no_links)
    archive.keep()
    assert (tmp_path / "b.tar").read_bytes() == ARCHIVE
    assert not archive.partial.exists()
