"""The executor interface: runs the bootstrapper's `upgrade` command, one attempt at a time.

The command is the documented one (`docker run --rm <org>/dtr:<version> upgrade --ucp-url ...`),
run without a terminal and without prompts: every value is a flag, except the UCP password, which
travels in the environment as `UCP_PASSWORD` (the documented variable: create-a-backup.md runs
`--env UCP_PASSWORD`; dtr-facts.md 1.1). So it is in no command line (`ps`, the container's
`Args`) and in no log line the harness writes, but it is not hidden: it is in the bootstrapper
container's environment (`Config.Env`), which anyone who may `docker inspect` that container on
its engine (through UCP, anyone with access to it) can read until the harness removes the
container after its exit status, and in the process's `/proc/<pid>/environ` on that node (root
and the same user), as it is in the lab bootstrapper child's (fidelity-review.md 15). Each run
is one *attempt*:

- its log is streamed line by line to a callback as it arrives, in the caller's thread;
- it fails when the exit status is not 0 **or** any line is fatal (`FATA[...]` in logrus' text
  format, `level=fatal` in its key=value format, which is what a bootstrapper without a TTY
  prints); a fatal line with exit status 0 is still a failure;
- it is bounded by a timeout, and `stop()` (safe from a signal handler or another thread) ends
  it promptly; a stopped or timed-out attempt can be resumed by running the same command again,
  which is how the bootstrapper is documented to recover.

`run_backup` runs the bootstrapper's `backup` the same way, except that its stdout is the
archive (`... backup ... > backup.tar`, dtr-facts.md 1.3): it goes to a sink chunk by chunk and
only its stderr is the log.

Owns `Executor` (the attempt loop, `stop()`, `last_result`) and `Attempt` (a running
bootstrapper's log reader). The implementations are `docker_executor.DockerExecutor` (a container
on the engine the environment points at) and `process_executor.SubprocessExecutor` (the lab's
simulated bootstrapper as a child process).
"""

from __future__ import annotations

import abc
import codecs
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self

from upgrade.errors import one_line
from upgrade.procedure.bootstrapper import (
    AttemptResult,
    BootstrapperRequest,
    ExecutorError,
    ImageInfo,
    fatal_line,
)

__all__ = ["CLEANUP_TIMEOUT_S", "Attempt", "DataSink", "Executor", "LineCallback"]

# Bounds for the calls made while cleaning up, so a dead engine cannot hang the session.
CLEANUP_TIMEOUT_S: Final = 30.0
LOG_DRAIN_TIMEOUT_S: Final = 5.0
# How often the attempt loop looks at the stop flag while no log line arrives.
POLL_S: Final = 0.05

LineCallback = Callable[[str], None]
# Receives the archive `backup` prints, chunk by chunk; raising ends the backup.
DataSink = Callable[[bytes], None]


class Executor(abc.ABC):
    """Prepares and runs the bootstrapper; one attempt at a time.

    `stop()` is sticky: once called, the running attempt ends as interrupted and no further
    attempt starts (`run` returns an interrupted result at once), so a Ctrl-C that lands between
    two attempts cannot start another one.

    `last_result` is the result of the latest attempt, also of one that an exception (Ctrl-C)
    ended before `run` could return it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stop_requested = threading.Event()
        self._run_lock = threading.Lock()
        self.last_result: AttemptResult | None = None

    @abc.abstractmethod
    def prepare(self, request: BootstrapperRequest) -> ImageInfo:
        """Make the bootstrapper available (pull it, or verify it is present) and identify it."""

    @abc.abstractmethod
    def _start(self, request: BootstrapperRequest) -> Attempt:
        """Start one attempt and return its handle."""

    def run(
        self, request: BootstrapperRequest, on_line: LineCallback, timeout_s: float
    ) -> AttemptResult:
        """Run `upgrade` once, streaming each log line to `on_line` (in this thread).

        Returns when the bootstrapper has exited, the timeout has passed (it is then stopped)
        or `stop()` was called. An output error (`OSError`, `ValueError`: a broken pipe, a full
        disk, a closed file) raised by `on_line` never ends the attempt: it is recorded in
        `output_error` and the following lines are still delivered. Any other exception, or the
        thread being interrupted (KeyboardInterrupt), stops the bootstrapper; its result is then
        in `last_result`. The container or process is gone when this returns or raises.
        """
        if request.command != "upgrade":
            raise ExecutorError(f"run() runs `upgrade`, not `{request.command}` (run_backup)")
        return self._run_with(self._start, request, on_line, timeout_s)

    def run_backup(
        self,
        request: BootstrapperRequest,
        sink: DataSink,
        on_line: LineCallback,
        timeout_s: float,
    ) -> AttemptResult:
        """Run `backup` once: its stdout (the archive) goes to `sink` in a reader thread, its
        stderr lines to `on_line` (in this thread), with `run`'s timeout, stop and interrupt
        rules. A `sink` that raises stops the bootstrapper (its exit status then says it did
        not finish); every chunk the bootstrapper printed has reached `sink` when this returns
        a result whose log ended (`ok`)."""
        if request.command != "backup":
            raise ExecutorError(f"run_backup() runs `backup`, not `{request.command}`")
        return self._run_with(
            lambda req: self._start_backup(req, sink), request, on_line, timeout_s
        )

    def _start_backup(self, request: BootstrapperRequest, sink: DataSink) -> Attempt:
        """Start `backup` with its stdout to `sink`; executors that cannot refuse."""
        raise ExecutorError(f"{type(self).__name__} cannot run the bootstrapper's backup")

    def _run_with(
        self,
        start: Callable[[BootstrapperRequest], Attempt],
        request: BootstrapperRequest,
        on_line: LineCallback,
        timeout_s: float,
    ) -> AttemptResult:
        if not self._run_lock.acquire(blocking=False):
            raise ExecutorError("a bootstrapper attempt is already running on this executor")
        try:
            self.last_result = None
            if timeout_s <= 0:
                raise ExecutorError(
                    f"the {request.command} timeout must be positive, got {timeout_s:g} s"
                )
            self.last_result = self._run_locked(start, request, on_line, timeout_s)
            return self.last_result
        finally:
            self._run_lock.release()

    def _run_locked(
        self,
        start: Callable[[BootstrapperRequest], Attempt],
        request: BootstrapperRequest,
        on_line: LineCallback,
        timeout_s: float,
    ) -> AttemptResult:
        started_at = datetime.now(UTC)
        began = self._clock()
        if self._stop_requested.is_set():
            return AttemptResult(None, None, started_at, 0.0, interrupted=True)
        deadline = began + timeout_s
        attempt = start(request)
        fatal: str | None = None
        output_error: str | None = None
        count = 0

        def result(*, interrupted: bool, timed_out: bool) -> AttemptResult:
            return AttemptResult(
                exit_code=attempt.exit_code(),
                fatal=None if fatal is None else request.scrub(fatal),
                started_at=started_at,
                duration_s=round(self._clock() - began, 3),
                interrupted=interrupted,
                timed_out=timed_out,
                lines=count,
                output_error=output_error,
            )

        interrupted = timed_out = finished = False
        try:
            for line in attempt.lines(deadline, self._clock, self._stop_requested):
                count += 1
                if fatal is None and fatal_line(line):
                    fatal = line.strip()
                try:
                    on_line(request.scrub(line))
                except (OSError, ValueError) as exc:
                    # Where the log goes must never decide whether the upgrade goes on.
                    output_error = output_error or request.scrub(one_line(str(exc)))
            interrupted = self._stop_requested.is_set()
            timed_out = not attempt.ended and not interrupted
            if not attempt.ended:
                attempt.terminate()
            finished = True
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            # Nested so that a second Ctrl-C during the stop still reaps the bootstrapper.
            try:
                if not finished:
                    attempt.terminate()
            finally:
                attempt.cleanup()
                if not finished:
                    self.last_result = result(interrupted=interrupted, timed_out=False)
        return result(interrupted=interrupted, timed_out=timed_out)

    def stop(self) -> None:
        """End the running attempt promptly and refuse new ones.

        Only sets a flag (and, for a process, sends SIGTERM), so it is safe from a signal
        handler and from any thread; the thread inside `run` does the rest.
        """
        self._stop_requested.set()
        self._on_stop()

    def _on_stop(self) -> None:  # noqa: B027 - optional hook, most executors need none
        """Hook for an implementation that can signal its child directly."""

    @property
    def stopped(self) -> bool:
        """Whether `stop()` was called."""
        return self._stop_requested.is_set()

    def close(self) -> None:  # noqa: B027 - nothing to release unless overridden
        """Release what the executor holds (a Docker client); idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Attempt(abc.ABC):
    """A running bootstrapper: a source of log lines, an exit status, a way to end it."""

    _EOF: Final = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self.ended = False
        self._reader: threading.Thread | None = None

    def _start_reader(self, chunks: Iterable[bytes], name: str) -> None:
        self._reader = threading.Thread(target=self._read, args=(chunks,), name=name, daemon=True)
        self._reader.start()

    def _start_split_reader(
        self,
        frames: Iterable[tuple[bytes | None, bytes | None]],
        sink: DataSink,
        abort: Callable[[], None],
        name: str,
    ) -> None:
        """For `backup`: each (stdout, stderr) frame's stdout goes to `sink`, its stderr
        becomes log lines. The first exception of `sink` calls `abort` (stop the
        bootstrapper) and the rest of stdout is read and dropped, so nothing blocks."""
        failed = False

        def log_chunks() -> Iterator[bytes]:
            nonlocal failed
            for out, err in frames:
                if out and not failed:
                    try:
                        sink(out)
                    except Exception:  # the sink records why; the backup cannot go on
                        failed = True
                        abort()
                if err:
                    yield err

        self._start_reader(log_chunks(), name)

    def _read(self, chunks: Iterable[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            for chunk in chunks:
                pending += decoder.decode(chunk)
                *complete, pending = pending.split("\n")
                for line in complete:
                    self._queue.put(line.rstrip("\r"))
        except Exception as exc:  # a broken stream ends the log; the exit status decides
            self._queue.put(exc)
        finally:
            pending += decoder.decode(b"", final=True)
            if pending:
                self._queue.put(pending.rstrip("\r"))
            self._queue.put(self._EOF)

    def lines(
        self, deadline: float, clock: Callable[[], float], stop: threading.Event
    ) -> Iterator[str]:
        """Yield log lines until the log ends, `deadline` passes or `stop` is set."""
        while not stop.is_set():
            remaining = deadline - clock()
            if remaining <= 0:
                return
            try:
                item = self._queue.get(timeout=min(POLL_S, remaining))
            except queue.Empty:
                continue
            if item is self._EOF:
                self.ended = self._wait_exit(max(0.0, deadline - clock()))
                return
            if isinstance(item, Exception):
                continue
            assert isinstance(item, str)
            yield item

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(LOG_DRAIN_TIMEOUT_S)

    @abc.abstractmethod
    def _wait_exit(self, timeout_s: float) -> bool:
        """After the log ended: wait for the exit status; False when it did not come in time."""

    @abc.abstractmethod
    def exit_code(self) -> int | None:
        """The exit status, once ended (None if it could not be read)."""

    @abc.abstractmethod
    def terminate(self) -> None:
        """Stop the bootstrapper (gracefully, then by force) and wait for it to end."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Remove the container / reap the process; never raises."""
