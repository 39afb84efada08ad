"""The terminal guard: output errors are recorded and swallowed, never raised into the session."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from upgrade.terminal import (
    GUARD_NAME,
    GuardedStream,
    describe_error,
    installed_guard,
    protect_stdout,
    restore_stdout,
)


class FullDisk(io.StringIO):
    """A stream on a full disk: every write fails with ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def broken_pipe() -> Iterator[io.TextIOWrapper]:
    """A text stream on a pipe whose reader has gone, as stdout is after `| head` exits."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    yield stream
    with contextlib.suppress(OSError):
        stream.close()


def test_a_broken_pipe_is_recorded_once_and_later_writes_are_dropped(
    broken_pipe: io.TextIOWrapper,
) -> None:
    notify = io.StringIO()
    guard = GuardedStream(broken_pipe, "stdout", notify=notify)
    guard.write("collected 38 items\n")
    guard.flush()
    assert guard.broken
    guard.write("checks/test_upgrade.py .\n")
    guard.write("VERDICT: UPGRADED\n")
    guard.flush()
    failure = guard.failure
    assert failure is not None
    assert (failure.output, failure.error, failure.lost) == ("stdout", "[Errno 32] Broken pipe", 2)
    assert notify.getvalue().count("\n") == 1
    assert "cannot write stdout: [Errno 32] Broken pipe" in notify.getvalue()
    assert failure.as_dict()["at"].endswith("Z")


def test_a_full_disk_and_a_closed_stream_are_output_errors_too() -> None:
    full = GuardedStream(FullDisk(), "stdout")
    assert full.write("x\n") == 2
    assert full.failure is not None
    assert full.failure.error == "[Errno 28] No space left on device"

    closed_stream = io.StringIO()
    closed_stream.close()
    closed = GuardedStream(closed_stream, "stdout")
    closed.write("x\n")
    closed.flush()
    assert closed.failure is not None
    assert "closed file" in closed.failure.error
    assert not closed.isatty()


def test_a_working_stream_is_passed_through() -> None:
    inner = io.StringIO()
    guard = GuardedStream(inner, "stdout")
    guard.writelines(["a\n", "b\n"])
    guard.flush()
    assert inner.getvalue() == "a\nb\n"
    assert guard.failure is None
    assert guard.encoding == "utf-8"
    assert guard.getvalue() == "a\nb\n"  # anything else is the wrapped stream's


def test_after_a_failure_the_descriptor_points_at_devnull_and_the_buffer_drains(
    broken_pipe: io.TextIOWrapper,
) -> None:
    guard = GuardedStream(broken_pipe, "stdout", detach_on_failure=True)
    guard.write("a line the reader never sees\n")
    guard.flush()
    assert guard.broken
    devnull = os.stat(os.devnull)
    target = os.fstat(broken_pipe.fileno())
    assert (target.st_dev, target.st_ino) == (devnull.st_dev, devnull.st_ino)
    # What Python does at exit: flushing the real stream no longer fails.
    broken_pipe.write("more\n")
    broken_pipe.flush()


def test_describe_error() -> None:
    assert describe_error(BrokenPipeError(errno.EPIPE, "Broken pipe")) == "[Errno 32] Broken pipe"
    assert describe_error(ValueError("I/O operation on closed file.")) == (
        "I/O operation on closed file."
    )


class Registry:
    """The part of pytest's plugin manager that protect_stdout uses."""

    def __init__(self) -> None:
        self.plugins: dict[str, object] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        assert name is not None
        self.plugins[name] = plugin
        return name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        assert name is not None
        return self.plugins.pop(name)

    def get_plugin(self, name: str) -> Any:
        return self.plugins.get(name)


def test_protect_stdout_installs_one_guard_and_restore_undoes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = io.StringIO()
    monkeypatch.setattr(sys, "stdout", original)
    registry = Registry()
    guard = protect_stdout(registry)
    assert sys.stdout is guard
    assert guard.stream is original
    assert protect_stdout(registry) is guard
    assert installed_guard(registry) is guard
    print("through the guard")
    assert original.getvalue() == "through the guard\n"
    restore_stdout(registry)
    assert sys.stdout is original
    assert GUARD_NAME not in registry.plugins
    restore_stdout(registry)  # idempotent


def test_restore_leaves_a_stdout_that_someone_else_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    registry = Registry()
    protect_stdout(registry)
    # pytest's capture puts its own stream (or the original) in place while a test runs.
    other = io.StringIO()
    sys.stdout = other
    restore_stdout(registry)
    assert sys.stdout is other
