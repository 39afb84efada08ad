"""Runs the bootstrapper image as a container on a Docker engine, through the docker SDK.

The engine is the one `upgrade.cluster.containers.engine_client` reaches: `DOCKER_HOST`,
`DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` (what a UCP client bundle sets) choose it. Owns
`DockerExecutor` (pull or offline check, digest, `docker run`), its container attempts
(`upgrade` read back from the container's log; `backup` attached, as `docker run -i --rm
--log-driver none ... backup > backup.tar` runs it), and the translation of docker SDK errors
into messages that say what to fix.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import docker
import docker.errors
import docker.types
import requests
from docker.utils.socket import STDOUT, frames_iter

from upgrade.cluster.containers import engine_client, engine_host
from upgrade.errors import HarnessError, one_line
from upgrade.procedure.bootstrapper import (
    BootstrapperImageMissing,
    BootstrapperRequest,
    DockerEngineUnreachable,
    ExecutorError,
    ImageInfo,
    PullProgress,
    bootstrapper_args,
    split_image_reference,
)
from upgrade.procedure.executor import CLEANUP_TIMEOUT_S, Attempt, DataSink, Executor

__all__ = ["CONTAINER_LABEL", "DockerExecutor"]

CONTAINER_LABEL: Final = "com.docker.dtr.upgrade-harness"
# How long `container.stop` lets the bootstrapper end on SIGTERM before the engine kills it.
DOCKER_STOP_GRACE_S: Final = 10
_DIGEST_PREFIX = "sha256:"


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

    `client_factory` builds the docker SDK client (`engine_client`, the harness's one factory,
    reads `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` as `docker.from_env` does,
    without leaking a socket when no engine answers); `offline=True` never pulls and requires the
    image to be present; `on_progress` receives pull progress events; `network_mode` (`host`)
    is `docker run --network`, for a UCP only the engine's host can reach (the lab's loopback).

    The container is the equivalent of `docker run -i --rm IMAGE upgrade ...`: no TTY (the log
    then comes in logrus' `level=...` form), stdin closed so nothing can prompt, labelled so a
    leftover can be found, and removed by the executor itself once its exit status is read
    (with `--rm` the engine would remove it before the status could be collected).

    `UCP_PASSWORD` is in the container's environment: `docker inspect` of the container on
    this engine (`Config.Env`) shows it while the container exists, to whoever the engine (or
    UCP) lets inspect it; it is in neither the command line nor the log.
    """

    def __init__(
        self,
        client_factory: Callable[[], Any] = engine_client,
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
        return engine_host()

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

    def _container_options(
        self, request: BootstrapperRequest, command: str, *, log_driver: str
    ) -> dict[str, Any]:
        """What the `upgrade` and `backup` containers share: the command and its flags, the
        network, the environment (credentials), no stdin or TTY, the harness's label."""
        network = {"network_mode": self.network_mode} if self.network_mode else {}
        return {
            "command": [command, *bootstrapper_args(request)],
            **network,
            "environment": request.environment(),
            "stdin_open": False,
            "tty": False,
            "labels": {CONTAINER_LABEL: request.target_version},
            "log_config": docker.types.LogConfig(type=log_driver),
        }

    def _start(self, request: BootstrapperRequest) -> Attempt:
        client = self._docker()
        # `logs` needs a driver the engine can read back, whatever the daemon's default.
        options = self._container_options(request, "upgrade", log_driver="json-file")
        try:
            container = client.containers.run(
                request.image, detach=True, auto_remove=False, **options
            )
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._translate(
                exc, f"start the bootstrapper container from {request.image}", request
            ) from None
        return _ContainerAttempt(container, request)

    def _start_backup(self, request: BootstrapperRequest, sink: DataSink) -> Attempt:
        """`docker run -i --rm --log-driver none IMAGE backup ...`: no log driver (from 2.4.2
        the backup's log is disabled against a credential leak, dtr-facts.md 1.3), so the
        container is created, attached (stdout: the archive, stderr: the log) and started."""
        client = self._docker()
        options = self._container_options(request, "backup", log_driver="none")
        try:
            container = client.containers.create(request.image, **options)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise self._translate(
                exc, f"create the backup container from {request.image}", request
            ) from None
        try:
            socket = client.api.attach_socket(
                container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
            )
            container.start()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                container.remove(force=True)
            raise self._translate(
                exc, f"start the backup container from {request.image}", request
            ) from None
        return _ContainerAttempt(container, request, backup=(socket, sink))

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


def _demuxed(socket: Any) -> Any:
    """(stdout, stderr) chunks of an attached container without a TTY."""
    for stream, data in frames_iter(socket, False):
        yield (data, None) if stream == STDOUT else (None, data)


class _ContainerAttempt(Attempt):
    def __init__(
        self,
        container: Any,
        request: BootstrapperRequest,
        backup: tuple[Any, DataSink] | None = None,
    ) -> None:
        super().__init__()
        self._container = container
        self._request = request
        self._status: int | None = None
        self._socket: Any = None
        if backup is not None:
            self._socket, sink = backup
            self._start_split_reader(
                _demuxed(self._socket),
                sink,
                self._abort,
                f"bootstrapper-backup-{getattr(container, 'short_id', '')}",
            )
            return
        try:
            stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        except Exception:
            self.terminate()
            self.cleanup()
            raise
        self._start_reader(stream, f"bootstrapper-log-{getattr(container, 'short_id', '')}")

    def _abort(self) -> None:
        """From the reader thread, when the archive cannot be kept: end the backup now."""
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            self._container.kill()

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
        if self._socket is not None:
            # The attach socket is a SocketIO over the engine connection: close both.
            for part in (self._socket, getattr(self._socket, "_sock", None)):
                if part is not None:
                    with contextlib.suppress(OSError):
                        part.close()
