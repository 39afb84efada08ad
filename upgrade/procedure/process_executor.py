"""Runs the lab's simulated bootstrapper as a child process, with the docker run's rules.

Owns `SubprocessExecutor` (the command line, the program's identity by a hash of its source),
its process attempts (`upgrade` with stdout and stderr merged; `backup` with stdout, the
archive, apart from stderr, the log), and the signalling of the child's process group (SIGTERM,
then SIGKILL).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import cast

from upgrade.procedure.bootstrapper import (
    BootstrapperRequest,
    ExecutorError,
    ImageInfo,
    bootstrapper_args,
)
from upgrade.procedure.executor import CLEANUP_TIMEOUT_S, Attempt, DataSink, Executor

__all__ = ["SubprocessExecutor"]


class SubprocessExecutor(Executor):
    """Runs `[*argv_prefix, "upgrade", *flags]` (or `backup`) as a child process: the lab's
    bootstrapper.

    stdout and stderr are merged and streamed line by line; the environment is this process's
    plus `extra_env` and `UCP_PASSWORD` (readable in the child's `/proc/<pid>/environ` by this
    user and root, never in its command line). The child runs in its own session, so a Ctrl-C meant
    for pytest reaches it only through `stop()` (SIGTERM to its process group, SIGKILL after
    `grace_s`), as a container would be stopped.

    `prepare` cannot pull anything: it checks that the program exists and identifies it by a
    SHA-256 over its source (`lab-source:sha256:...`, see `ImageInfo`), which changes whenever
    the lab bootstrapper does.
    """

    def __init__(
        self,
        argv_prefix: Sequence[str],
        *,
        grace_s: float = 5.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        if not argv_prefix:
            raise ExecutorError("the bootstrapper command is empty; give the program to run")
        self.argv_prefix = list(argv_prefix)
        self.grace_s = grace_s
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def argv(self, request: BootstrapperRequest) -> list[str]:
        """The exact command line of an attempt (it holds no secret)."""
        return [*self.argv_prefix, request.command, *bootstrapper_args(request)]

    def source_files(self) -> list[Path]:
        """The files whose content identifies the program (`-m MODULE` or a script path)."""
        argv = self.argv_prefix
        if "-m" in argv[:-1]:
            module = argv[argv.index("-m") + 1]
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            if spec is None or spec.origin is None:
                raise ExecutorError(
                    f"the bootstrapper module {module} cannot be found; install the project "
                    "(pip install -e .) or fix the bootstrapper command"
                )
            origin = Path(spec.origin)
            if spec.submodule_search_locations:
                return sorted(origin.parent.rglob("*.py"))
            return [origin]
        for part in argv:
            path = Path(part)
            if path.suffix == ".py":
                if not path.is_file():
                    raise ExecutorError(f"the bootstrapper script {path} does not exist")
                return [path]
        program = Path(argv[0])
        if program.is_file():
            return [program]
        raise ExecutorError(
            f"cannot identify the bootstrapper program {argv[0]!r}: give `python -m MODULE`, "
            "a script path or an executable file"
        )

    def prepare(self, request: BootstrapperRequest) -> ImageInfo:
        """Check the program is there and identify it by a hash of its source files."""
        digest = hashlib.sha256()
        for path in self.source_files():
            try:
                digest.update(path.read_bytes())
            except OSError as exc:
                raise ExecutorError(
                    f"cannot read the bootstrapper source {path}: {exc.strerror}"
                ) from None
        return ImageInfo(
            request.image, f"lab-source:sha256:{digest.hexdigest()}", False, "lab-source"
        )

    def _start(self, request: BootstrapperRequest) -> Attempt:
        process = self._spawn(request, subprocess.STDOUT)
        return _ProcessAttempt(process, self.grace_s, self)

    def _start_backup(self, request: BootstrapperRequest, sink: DataSink) -> Attempt:
        """`backup`: stdout (the archive) to `sink`, stderr as the log."""
        process = self._spawn(request, subprocess.PIPE)
        return _ProcessAttempt(process, self.grace_s, self, sink=sink)

    def _spawn(self, request: BootstrapperRequest, stderr: int) -> subprocess.Popen[bytes]:
        try:
            process = subprocess.Popen(
                self.argv(request),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**self._env, **request.environment()},
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorError(
                f"cannot start the bootstrapper {self.argv_prefix[0]}: {exc.strerror or exc}"
            ) from None
        self._process = process
        if self._stop_requested.is_set():
            self._on_stop()
        return process

    def _on_stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            _signal_group(process, signal.SIGTERM)

    def _forget(self, process: subprocess.Popen[bytes]) -> None:
        if self._process is process:
            self._process = None


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _frames(process: subprocess.Popen[bytes]) -> Iterator[tuple[bytes | None, bytes | None]]:
    """(stdout, stderr) chunks of a child with both piped, until both are closed."""
    assert process.stdout is not None
    assert process.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, 0)
        selector.register(process.stderr, selectors.EVENT_READ, 1)
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == 0:
                    yield chunk, None
                else:
                    yield None, chunk


class _ProcessAttempt(Attempt):
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        grace_s: float,
        owner: SubprocessExecutor,
        sink: DataSink | None = None,
    ) -> None:
        super().__init__()
        self._process = process
        self._grace_s = grace_s
        self._owner = owner
        name = f"lab-bootstrapper-{process.pid}"
        if sink is not None:
            self._start_split_reader(
                _frames(process), sink, lambda: _signal_group(process, signal.SIGTERM), name
            )
            return
        stdout = process.stdout
        assert stdout is not None
        self._start_reader(iter(lambda: cast(io.BufferedReader, stdout).read1(65536), b""), name)

    def _wait_exit(self, timeout_s: float) -> bool:
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def exit_code(self) -> int | None:
        return self._process.returncode

    def terminate(self) -> None:
        if self._process.returncode is not None:
            self.ended = True
            return
        _signal_group(self._process, signal.SIGTERM)
        if not self._wait_exit(self._grace_s):
            _signal_group(self._process, signal.SIGKILL)
            self._wait_exit(CLEANUP_TIMEOUT_S)
        self.ended = True

    def cleanup(self) -> None:
        if self._process.returncode is None:
            _signal_group(self._process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(CLEANUP_TIMEOUT_S)
        self._join_reader()
        if self._reader is not None and self._reader.is_alive():
            # Something left in the child's process group still holds the log pipe open.
            _signal_group(self._process, signal.SIGKILL)
            self._join_reader()
        if not (self._reader is not None and self._reader.is_alive()):
            for pipe in (self._process.stdout, self._process.stderr):
                if pipe is not None:
                    pipe.close()
        self._owner._forget(self._process)
