"""Output that cannot stop the session: a terminal stream whose failures are recorded, not raised.

An operator who pipes a session into `head`, a CI runner that closes its log pipe, or a full disk
under a redirected stdout must never end an upgrade half way. `GuardedStream` wraps a text
stream: `write` and `flush` swallow `OSError` (broken pipe, ENOSPC) and `ValueError` (a closed
stream), remember the first failure as an `OutputProblem`, and drop everything written after it.

`protect_stdout` puts one in place of `sys.stdout` for a pytest session. pytest's terminal
reporter is created in `_pytest.terminal.pytest_configure` with the `sys.stdout` of that moment,
so installing the guard from an earlier (`tryfirst`) `pytest_configure` covers every line pytest
writes (progress, summary, verdict). The guard is registered under `GUARD_NAME` with the plugin
manager, where the upgrade finds it to record a failure; `restore_stdout` undoes both.

After the stream failed, its file descriptor is pointed at `/dev/null` and the stream's buffer is
drained there (Python's documentation on SIGPIPE recommends this), so neither pytest's final
flush nor the interpreter's at exit meets the broken pipe again: the exit status stays pytest's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, TextIO, cast

from upgrade.evidence.times import iso, utc_now

__all__ = [
    "GUARD_NAME",
    "OUTPUT_ERRORS",
    "GuardedStream",
    "OutputProblem",
    "describe_error",
    "installed_guard",
    "protect_stdout",
    "restore_stdout",
]

GUARD_NAME: Final = "dtr-upgrade-stdout-guard"
OUTPUT_ERRORS: Final = (OSError, ValueError)


@dataclass(frozen=True)
class OutputProblem:
    """An output the session could not write to: which one, the first error, when, how much lost.

    `output` is `stdout` or a file's path; `lost` counts the writes (lines) dropped after the
    failure, up to the moment the problem was read.
    """

    output: str
    error: str
    at: datetime
    lost: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The problem in result.json form."""
        return {"output": self.output, "error": self.error, "at": iso(self.at), "lost": self.lost}

    def describe(self) -> str:
        """One line for the terminal."""
        return f"cannot write {self.output}: {self.error}"


def describe_error(exc: BaseException) -> str:
    """`[Errno 28] No space left on device` for an OSError, the message otherwise."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"[Errno {exc.errno}] {exc.strerror or os.strerror(exc.errno)}"
    return str(exc) or type(exc).__name__


class GuardedStream:
    """A text stream whose `write` and `flush` never raise an output error.

    The first failure is kept in `failure` and told once on `notify` (a line on stderr, say);
    later writes are dropped and counted. With `detach_on_failure`, the stream's file descriptor
    is then pointed at `/dev/null` so that nothing else meets the failure again.
    """

    def __init__(
        self,
        stream: TextIO,
        name: str,
        *,
        notify: TextIO | None = None,
        detach_on_failure: bool = False,
    ) -> None:
        self.stream = stream
        self.name = name
        self._notify = notify
        self._detach = detach_on_failure
        self._lock = threading.Lock()
        self._failure: OutputProblem | None = None
        self._dropped = 0

    @property
    def failure(self) -> OutputProblem | None:
        """The first failure, with the writes dropped since; None while the stream works."""
        first = self._failure
        if first is None:
            return None
        return OutputProblem(first.output, first.error, first.at, self._dropped)

    @property
    def broken(self) -> bool:
        """Whether a write or flush has failed."""
        return self._failure is not None

    def write(self, text: str) -> int:
        """Write `text`; after a failure, drop it. Returns `len(text)` either way."""
        if self._failure is not None:
            self._dropped += 1
            return len(text)
        try:
            self.stream.write(text)
        except OUTPUT_ERRORS as exc:
            self._failed(exc)
        return len(text)

    def flush(self) -> None:
        """Flush the stream; a failure is recorded instead of raised."""
        if self._failure is not None:
            return
        try:
            self.stream.flush()
        except OUTPUT_ERRORS as exc:
            self._failed(exc)

    def writelines(self, lines: list[str]) -> None:
        """Write each line."""
        for line in lines:
            self.write(line)

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is not None:
                return
            self._failure = OutputProblem(self.name, describe_error(exc), utc_now())
        if self._detach:
            self._point_at_devnull()
        if self._notify is not None:
            with contextlib.suppress(*OUTPUT_ERRORS):
                self._notify.write(
                    f"dtr-upgrade: {self._failure.describe()}; its output is dropped from now on "
                    "and the session goes on without it\n"
                )
                self._notify.flush()

    def _point_at_devnull(self) -> None:
        try:
            fd = self.stream.fileno()
        except OUTPUT_ERRORS:
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        # What the failed write left in the buffer now drains into /dev/null.
        with contextlib.suppress(*OUTPUT_ERRORS):
            self.stream.flush()

    # -- the rest of the text-stream interface, as the wrapped stream answers it -------------

    def isatty(self) -> bool:
        """Whether the stream is a terminal (False once it failed)."""
        if self._failure is not None:
            return False
        try:
            return self.stream.isatty()
        except OUTPUT_ERRORS:
            return False

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        """The wrapped stream's encoding."""
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def closed(self) -> bool:
        """Whether the wrapped stream is closed."""
        return bool(getattr(self.stream, "closed", False))

    def writable(self) -> bool:
        """A guarded stream always accepts writes."""
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class PluginRegistry(Protocol):
    """What `protect_stdout` needs of pytest's plugin manager."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register `plugin` under `name`."""

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister `plugin` (or the one named `name`)."""

    def get_plugin(self, name: str) -> Any:
        """The plugin registered under `name`, or None."""


def protect_stdout(registry: PluginRegistry) -> GuardedStream:
    """Replace `sys.stdout` by a guard (once) and register it as `GUARD_NAME` in `registry`."""
    guard = installed_guard(registry)
    if guard is not None:
        return guard
    stream = sys.stdout
    if stream is None:
        # Started with stdout closed (`pytest ... >&-`): nothing can be shown, the session and
        # its bundle go on regardless.
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives for the session
    guard = GuardedStream(stream, "stdout", notify=sys.stderr, detach_on_failure=True)
    registry.register(guard, GUARD_NAME)
    sys.stdout = cast(TextIO, guard)
    return guard


def restore_stdout(registry: PluginRegistry) -> None:
    """Undo `protect_stdout`: put the original `sys.stdout` back and unregister the guard.

    pytest's output capture may have put the original back already; the terminal reporter
    keeps writing through the guard until the end, so the guard itself stays usable.
    """
    guard = installed_guard(registry)
    if guard is None:
        return
    if sys.stdout is cast(TextIO, guard) or sys.stdout is None:
        # Never None again: pytest flushes sys.stdout on its way out.
        sys.stdout = guard.stream
    registry.unregister(guard, GUARD_NAME)


def installed_guard(registry: PluginRegistry) -> GuardedStream | None:
    """The guard `protect_stdout` registered, if any."""
    guard = registry.get_plugin(GUARD_NAME)
    return guard if isinstance(guard, GuardedStream) else None
