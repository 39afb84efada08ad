"""Runs the DTR bootstrapper's `upgrade` command: on a Docker engine, or as the lab's process.

The command is the documented one (`docker run --rm <org>/dtr:<version> upgrade --ucp-url ...`),
run without a terminal and without prompts: every value is a flag, except the UCP password, which
travels in the environment as `UCP_PASSWORD` so it never shows in a process list, a container's
command line or the log. Each run is one *attempt*:

- its log is streamed line by line to a callback as it arrives, in the caller's thread;
- it fails when the exit status is not 0 **or** any line is fatal (`FATA[...]` in logrus' text
  format, `level=fatal` in its key=value format, which is what a bootstrapper without a TTY
  prints); a fatal line with exit status 0 is still a failure;
- it is bounded by a timeout, and `stop()` (safe from a signal handler or another thread) ends
  it promptly; a stopped or timed-out attempt can be resumed by running the same command again,
  which is how the bootstrapper is documented to recover.

`DockerExecutor` uses the docker SDK, so `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`
(what a UCP client bundle sets) choose the engine. `SubprocessExecutor` runs the lab's simulated
bootstrapper (`python -m dtrlab.bootstrapper --image-version V`) with the same arguments and the
same rules.
"""

from __future__ import annotations

import abc
import codecs
import contextlib
import hashlib
import importlib.util
import io
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self, cast

import docker
import docker.errors
import docker.types
import requests

from upgrade.errors import HarnessError, one_line

__all__ = [
    "AttemptResult",
    "BootstrapperImageMissing",
    "BootstrapperRequest",
    "DockerEngineUnreachable",
    "DockerExecutor",
    "Executor",
    "ExecutorError",
    "ImageInfo",
    "PullProgress",
    "SubprocessExecutor",
    "bootstrapper_args",
    "fatal_line",
    "split_image_reference",
]

DEFAULT_DOCKER_HOST: Final = "unix:///var/run/docker.sock"
CONTAINER_LABEL: Final = "com.docker.dtr.upgrade-harness"
# How long `container.stop` lets the bootstrapper end on SIGTERM before the engine kills it.
DOCKER_STOP_GRACE_S: Final = 10
# Bounds for the calls made while cleaning up, so a dead engine cannot hang the session.
CLEANUP_TIMEOUT_S: Final = 30.0
LOG_DRAIN_TIMEOUT_S: Final = 5.0
# How often the attempt loop looks at the stop flag while no log line arrives.
POLL_S: Final = 0.05

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FATAL = re.compile(r"^\s*FATA\[|\blevel=\"?fatal\b|\"level\"\s*:\s*\"fatal\"", re.IGNORECASE)
_DIGEST_PREFIX = "sha256:"


class ExecutorError(HarnessError):
    """The bootstrapper could not be prepared or started; the message says what to fix."""


class DockerEngineUnreachable(ExecutorError):
    """The Docker engine (or UCP, through a client bundle) did not answer."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        super().__init__(
            f"cannot reach the Docker engine at {host}: {reason}; set DOCKER_HOST (and "
            "DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or load the UCP client bundle (source env.sh)"
        )


class BootstrapperImageMissing(ExecutorError):
    """Offline mode, and the bootstrapper image is not on the engine."""

    def __init__(self, image: str, host: str) -> None:
        self.image = image
        super().__init__(
            f"the bootstrapper image {image} is not present on the Docker engine at {host} and "
            f"--offline forbids pulling it; load it on every node with `docker load -i <dtr "
            f"offline bundle>.tar.gz` (`docker run --rm {image} images` lists every image the "
            "upgrade needs), or drop --offline to pull it"
        )


@dataclass(frozen=True)
class BootstrapperRequest:
    """What one `upgrade` run needs; the password never appears in `repr` or in argv.

    `ucp_ca_pem` is the PEM *content* of UCP's CA (the CLI takes `--ucp-ca "$(cat ca.pem)"`);
    give it or set `ucp_insecure_tls`, not both. `extra_env` is added to the bootstrapper's
    environment (for example `DEBUG` or `NOCOLOR`); it may not override `UCP_PASSWORD`.
    """

    image: str
    target_version: str
    ucp_url: str
    ucp_username: str
    ucp_password: str = field(repr=False)
    existing_replica_id: str | None = None
    ucp_ca_pem: str | None = field(default=None, repr=False)
    ucp_insecure_tls: bool = False
    debug: bool = False
    extra_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        problems = []
        if not self.image.strip():
            problems.append("the bootstrapper image is empty (set --dtr-image or the catalogue)")
        if not self.ucp_url.strip():
            problems.append("the UCP URL is empty (set --ucp-url)")
        if not self.ucp_username.strip():
            problems.append("the UCP username is empty (set UCP_USERNAME)")
        if not self.ucp_password:
            problems.append("the UCP password is empty (set UCP_PASSWORD)")
        if self.ucp_ca_pem is not None and self.ucp_insecure_tls:
            problems.append("give either UCP's CA (--ucp-ca) or --insecure-tls, not both")
        if self.ucp_ca_pem is not None and "-----BEGIN CERTIFICATE-----" not in self.ucp_ca_pem:
            problems.append("the UCP CA is not PEM text (pass the content of ca.pem)")
        if "UCP_PASSWORD" in self.extra_env:
            problems.append("extra_env may not set UCP_PASSWORD (it comes from ucp_password)")
        if problems:
            raise ExecutorError("invalid bootstrapper request: " + "; ".join(problems))

    def environment(self) -> dict[str, str]:
        """The variables the bootstrapper receives: `extra_env` plus `UCP_PASSWORD`."""
        return {**self.extra_env, "UCP_PASSWORD": self.ucp_password}

    def scrub(self, text: str) -> str:
        """`text` with the UCP password replaced, for messages built from foreign errors."""
        return text.replace(self.ucp_password, "****") if self.ucp_password else text


def bootstrapper_args(request: BootstrapperRequest) -> list[str]:
    """The documented flags that follow `upgrade`, in a stable order; never the password."""
    args = ["--ucp-url", request.ucp_url, "--ucp-username", request.ucp_username]
    if request.existing_replica_id:
        args += ["--existing-replica-id", request.existing_replica_id]
    if request.ucp_ca_pem is not None:
        args += ["--ucp-ca", request.ucp_ca_pem]
    elif request.ucp_insecure_tls:
        args.append("--ucp-insecure-tls")
    if request.debug:
        args.append("--debug")
    return args


def fatal_line(line: str) -> bool:
    """Whether a bootstrapper log line is fatal (`FATA[0112] ...` or `level=fatal`)."""
    return bool(_FATAL.search(_ANSI.sub("", line)))


@dataclass(frozen=True)
class ImageInfo:
    """The bootstrapper that will run: its name, its digest and whether it was pulled now.

    `digest_source` says what `digest` is: `registry` (the repository digest the image was
    pulled by, `sha256:...`), `image-id` (the local image ID, for an image loaded with
    `docker load` that has no repository digest) or `lab-source` (a SHA-256 of the lab
    bootstrapper's source files, prefixed `lab-source:`, never a registry digest).
    """

    image: str
    digest: str
    pulled: bool
    digest_source: str = "registry"


@dataclass(frozen=True)
class PullProgress:
    """One progress event of an image pull (per layer while downloading)."""

    image: str
    status: str
    layer: str | None = None
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one run of `upgrade`.

    `exit_code` is None when the process never reported one (stopped before it could, or the
    engine lost it); `fatal` is the first fatal log line; `interrupted` means `stop()` or a
    KeyboardInterrupt ended it; `timed_out` means the timeout did; `lines` counts the log lines
    delivered; `output_error` is the first output error the line callback raised (the attempt
    went on regardless).
    """

    exit_code: int | None
    fatal: str | None
    started_at: datetime
    duration_s: float
    interrupted: bool = False
    timed_out: bool = False
    lines: int = 0
    output_error: str | None = None

    @property
    def ok(self) -> bool:
        """Exit status 0, no fatal line, and neither stopped nor timed out."""
        return (
            self.exit_code == 0
            and self.fatal is None
            and not self.interrupted
            and not self.timed_out
        )

    def describe(self) -> str:
        """One line for the terminal and the report: how the attempt ended."""
        if self.interrupted:
            return f"interrupted after {self.duration_s:.1f} s; re-run the upgrade to resume"
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f} s; re-run the upgrade to resume"
        if self.ok:
            return f"succeeded in {self.duration_s:.1f} s"
        status = "no exit status" if self.exit_code is None else f"exit status {self.exit_code}"
        detail = f": {self.fatal}" if self.fatal else ""
        return f"failed with {status} after {self.duration_s:.1f} s{detail}"


LineCallback = Callable[[str], None]


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
    def _start(self, request: BootstrapperRequest) -> _Attempt:
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
        if not self._run_lock.acquire(blocking=False):
            raise ExecutorError("an upgrade attempt is already running on this executor")
        try:
            self.last_result = None
            if timeout_s <= 0:
                raise ExecutorError(f"the upgrade timeout must be positive, got {timeout_s:g} s")
            self.last_result = self._run_locked(request, on_line, timeout_s)
            return self.last_result
        finally:
            self._run_lock.release()

    def _run_locked(
        self, request: BootstrapperRequest, on_line: LineCallback, timeout_s: float
    ) -> AttemptResult:
        started_at = datetime.now(UTC)
        began = self._clock()
        if self._stop_requested.is_set():
            return AttemptResult(None, None, started_at, 0.0, interrupted=True)
        deadline = began + timeout_s
        attempt = self._start(request)
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


class _Attempt(abc.ABC):
    """A running bootstrapper: a source of log lines, an exit status, a way to end it."""

    _EOF: Final = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self.ended = False
        self._reader: threading.Thread | None = None

    def _start_reader(self, chunks: Iterable[bytes], name: str) -> None:
        self._reader = threading.Thread(target=self._read, args=(chunks,), name=name, daemon=True)
        self._reader.start()

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


# --------------------------------------------------------------------------------------------
# Docker


def split_image_reference(image: str) -> tuple[str, str]:
    """`docker/dtr:2.6.4` -> (`docker/dtr`, `2.6.4`); a digest reference keeps `sha256:...`.

    A registry port (`registry.example.com:5000/msr/dtr:2.9.0`) is not mistaken for a tag; no
    tag means `latest`, as with `docker pull`.
    """
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"


def _normal_repository(name: str) -> str:
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name.removeprefix("library/")


def _explain(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation if isinstance(explanation, str) and explanation else str(exc)
    return one_line(text) or type(exc).__name__


def _read_timed_out(exc: BaseException) -> bool:
    # Over a unix socket the SDK reports a read timeout as a ConnectionError.
    return isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in str(exc).lower()


def _is_connection_problem(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, docker.errors.DockerException) and not isinstance(
        exc, docker.errors.APIError
    ):
        text = str(exc)
        return "Error while fetching server API version" in text or "Connection" in text
    return False


class DockerExecutor(Executor):
    """Runs the bootstrapper image as a container on the engine the environment points at.

    `client_factory` builds the docker SDK client (`docker.from_env` reads `DOCKER_HOST`,
    `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`); `offline=True` never pulls and requires the
    image to be present; `on_progress` receives pull progress events; `network_mode` (`host`)
    is `docker run --network`, for a UCP only the engine's host can reach (the lab's loopback).

    The container is the equivalent of `docker run -i --rm IMAGE upgrade ...`: no TTY (the log
    then comes in logrus' `level=...` form), stdin closed so nothing can prompt, labelled so a
    leftover can be found, and removed by the executor itself once its exit status is read
    (with `--rm` the engine would remove it before the status could be collected).
    """

    def __init__(
        self,
        client_factory: Callable[[], Any] = docker.from_env,
        *,
        offline: bool = False,
        on_progress: Callable[[PullProgress], None] | None = None,
        network_mode: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self._client_factory = client_factory
        self._client: Any = None
        self._client_lock = threading.Lock()
        self.offline = offline
        self._on_progress = on_progress
        self.network_mode = network_mode

    @property
    def engine(self) -> str:
        """Where the engine is, as the environment says (for messages)."""
        return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST

    def _docker(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._client_factory()
                except docker.errors.TLSParameterError as exc:
                    raise ExecutorError(
                        f"the Docker TLS settings are invalid: {_explain(exc)}; check "
                        "DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem of the client bundle)"
                    ) from None
                except (docker.errors.DockerException, requests.RequestException) as exc:
                    raise DockerEngineUnreachable(self.engine, _explain(exc)) from None
            return self._client

    def _translate(self, exc: Exception, doing: str, request: BootstrapperRequest) -> HarnessError:
        if _is_connection_problem(exc):
            return DockerEngineUnreachable(self.engine, request.scrub(_explain(exc)))
        return ExecutorError(
            f"the Docker engine at {self.engine} failed to {doing}: {request.scrub(_explain(exc))}"
        )

    def prepare(self, request: BootstrapperRequest) -> ImageInfo:
        """Pull the image (reporting progress), or offline check it is present; read its digest.

        A `stop()` during the pull ends it with `ExecutorError` at the next progress event.
        """
        client = self._docker()
        pulled = False
        if not self.offline:
            self._pull(client, request)
            pulled = True
        try:
            image = client.images.get(request.image)
        except docker.errors.ImageNotFound:
            if self.offline:
                raise BootstrapperImageMissing(request.image, self.engine) from None
            raise ExecutorError(
                f"the engine at {self.engine} reported {request.image} pulled but cannot find "
                "it; check the engine's storage and pull again"
            ) from None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._translate(exc, f"inspect the image {request.image}", request) from None
        digest, source = self._digest(request.image, image)
        return ImageInfo(request.image, digest, pulled, source)

    def _pull(self, client: Any, request: BootstrapperRequest) -> None:
        repository, tag = split_image_reference(request.image)
        try:
            events = client.api.pull(repository, tag, stream=True, decode=True)
            for event in events:
                if self._stop_requested.is_set():
                    with contextlib.suppress(Exception):
                        events.close()
                    raise ExecutorError(
                        f"the pull of {request.image} was stopped before it finished; run the "
                        "session again to pull it (layers already downloaded are kept)"
                    )
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    detail = event.get("errorDetail") or {}
                    message = detail.get("message") if isinstance(detail, dict) else None
                    raise ExecutorError(
                        f"cannot pull {request.image}: {one_line(str(message or event['error']))}"
                        "; check the image name (--dtr-image), `docker login` to its registry, "
                        "or load it and use --offline"
                    )
                if self._on_progress is not None:
                    self._on_progress(_progress(request.image, event))
        except docker.errors.NotFound as exc:
            raise ExecutorError(
                f"cannot pull {request.image}: {_explain(exc)}; check the image name and tag "
                "(--dtr-image, --to-version) and `docker login` to its registry"
            ) from None
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._translate(exc, f"pull {request.image}", request) from None

    @staticmethod
    def _digest(reference: str, image: Any) -> tuple[str, str]:
        attrs = getattr(image, "attrs", None) or {}
        repo_digests = [d for d in attrs.get("RepoDigests") or [] if isinstance(d, str)]
        repository = _normal_repository(split_image_reference(reference)[0])
        for candidate in repo_digests:
            name, _, digest = candidate.partition("@")
            if _normal_repository(name) == repository and digest.startswith(_DIGEST_PREFIX):
                return digest, "registry"
        for candidate in repo_digests:
            digest = candidate.partition("@")[2]
            if digest.startswith(_DIGEST_PREFIX):
                return digest, "registry"
        image_id = getattr(image, "id", None) or attrs.get("Id")
        if isinstance(image_id, str) and image_id:
            return image_id, "image-id"
        raise ExecutorError(
            f"the engine reports neither a repository digest nor an ID for {reference}; "
            "inspect it with `docker image inspect` and pull or load it again"
        )

    def _start(self, request: BootstrapperRequest) -> _Attempt:
        client = self._docker()
        network = {"network_mode": self.network_mode} if self.network_mode else {}
        try:
            container = client.containers.run(
                request.image,
                command=["upgrade", *bootstrapper_args(request)],
                **network,
                environment=request.environment(),
                detach=True,
                stdin_open=False,
                tty=False,
                auto_remove=False,
                labels={CONTAINER_LABEL: request.target_version},
                # `logs` needs a driver the engine can read back, whatever the daemon's default.
                log_config=docker.types.LogConfig(type="json-file"),
            )
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._translate(
                exc, f"start the bootstrapper container from {request.image}", request
            ) from None
        return _ContainerAttempt(container, request)

    def close(self) -> None:
        """Close the docker SDK client."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _progress(image: str, event: Mapping[str, Any]) -> PullProgress:
    detail = event.get("progressDetail")
    current = total = None
    if isinstance(detail, dict):
        current = detail.get("current") if isinstance(detail.get("current"), int) else None
        total = detail.get("total") if isinstance(detail.get("total"), int) else None
    layer = event.get("id")
    return PullProgress(
        image=image,
        status=str(event.get("status", "")),
        layer=layer if isinstance(layer, str) else None,
        current=current,
        total=total,
    )


class _ContainerAttempt(_Attempt):
    def __init__(self, container: Any, request: BootstrapperRequest) -> None:
        super().__init__()
        self._container = container
        self._request = request
        self._status: int | None = None
        try:
            stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        except Exception:
            self.terminate()
            self.cleanup()
            raise
        self._start_reader(stream, f"bootstrapper-log-{getattr(container, 'short_id', '')}")

    def _wait_exit(self, timeout_s: float) -> bool:
        try:
            answer = self._container.wait(timeout=max(1.0, timeout_s))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            if _read_timed_out(exc):
                return False
            raise ExecutorError(
                "lost the Docker engine while the bootstrapper ran "
                f"({self._request.scrub(_explain(exc))}); it may still be running: look for it "
                f"with `docker ps -a --filter label={CONTAINER_LABEL}` and re-run the upgrade "
                "to resume once the engine answers"
            ) from None
        code = answer.get("StatusCode") if isinstance(answer, dict) else None
        self._status = code if isinstance(code, int) else None
        return True

    def exit_code(self) -> int | None:
        return self._status

    def terminate(self) -> None:
        if self.ended:
            return
        quiet = (docker.errors.DockerException, requests.RequestException, ExecutorError)
        # `stop` is SIGTERM, then the engine's own SIGKILL after the grace period.
        with contextlib.suppress(*quiet):
            self._container.stop(timeout=DOCKER_STOP_GRACE_S)
        with contextlib.suppress(*quiet):
            self._wait_exit(DOCKER_STOP_GRACE_S)
        if self._status is None:
            with contextlib.suppress(*quiet):
                self._container.kill()
            with contextlib.suppress(*quiet):
                self._wait_exit(CLEANUP_TIMEOUT_S)
        self.ended = True

    def cleanup(self) -> None:
        # force=True also removes a container the engine failed to stop.
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            self._container.remove(force=True)
        self._join_reader()


# --------------------------------------------------------------------------------------------
# Subprocess (the lab's bootstrapper)


class SubprocessExecutor(Executor):
    """Runs `[*argv_prefix, "upgrade", *flags]` as a child process: the lab's bootstrapper.

    stdout and stderr are merged and streamed line by line; the environment is this process's
    plus `extra_env` and `UCP_PASSWORD`. The child runs in its own session, so a Ctrl-C meant
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
        return [*self.argv_prefix, "upgrade", *bootstrapper_args(request)]

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

    def _start(self, request: BootstrapperRequest) -> _Attempt:
        try:
            process = subprocess.Popen(
                self.argv(request),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
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
        return _ProcessAttempt(process, self.grace_s, self)

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


class _ProcessAttempt(_Attempt):
    def __init__(
        self, process: subprocess.Popen[bytes], grace_s: float, owner: SubprocessExecutor
    ) -> None:
        super().__init__()
        self._process = process
        self._grace_s = grace_s
        self._owner = owner
        stdout = process.stdout
        assert stdout is not None
        self._start_reader(
            iter(lambda: cast(io.BufferedReader, stdout).read1(65536), b""),
            f"lab-bootstrapper-{process.pid}",
        )

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
        if self._process.stdout is not None and not (
            self._reader is not None and self._reader.is_alive()
        ):
            self._process.stdout.close()
        self._owner._forget(self._process)
