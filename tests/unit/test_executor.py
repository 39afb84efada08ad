"""The bootstrapper executors: the docker SDK boundary with a fake client, and a real child."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from tests.support.bootstrapper_requests import CA_PEM, SECRET, make_request
from upgrade.errors import HarnessError
from upgrade.procedure.bootstrapper import (
    AttemptResult,
    BootstrapperImageMissing,
    BootstrapperRequest,
    DockerEngineUnreachable,
    ExecutorError,
    PullProgress,
    bootstrapper_args,
    fatal_line,
    log_level,
    split_image_reference,
)
from upgrade.procedure.docker_executor import DockerExecutor
from upgrade.procedure.process_executor import SubprocessExecutor


class SteppingClock:
    """A monotonic clock that advances on every read, so timeouts pass without sleeping."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


# ------------------------------------------------------------------------------------------
# request, flags, fatal lines, image references


def test_bootstrapper_args_are_the_documented_flags_without_the_password() -> None:
    args = bootstrapper_args(make_request(debug=True))
    assert args == [
        "--ucp-url",
        "https://ucp.example.com",
        "--ucp-username",
        "admin",
        "--existing-replica-id",
        "5eb9459a7832",
        "--ucp-ca",
        CA_PEM,
        "--debug",
    ]
    assert not any(SECRET in arg for arg in args)


def test_insecure_tls_replaces_the_ca_and_optional_flags_are_left_out() -> None:
    args = bootstrapper_args(
        make_request(ucp_ca_pem=None, ucp_insecure_tls=True, existing_replica_id=None)
    )
    assert args == [
        "--ucp-url",
        "https://ucp.example.com",
        "--ucp-username",
        "admin",
        "--ucp-insecure-tls",
    ]


def test_the_password_stays_out_of_repr_and_goes_into_the_environment() -> None:
    request = make_request(extra_env={"NOCOLOR": "1"})
    assert SECRET not in repr(request)
    assert request.environment() == {"NOCOLOR": "1", "UCP_PASSWORD": SECRET}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ucp_password": ""}, "set UCP_PASSWORD"),
        ({"ucp_insecure_tls": True}, "not both"),
        ({"ucp_ca_pem": "/etc/ca.pem"}, "not PEM text"),
        ({"ucp_url": " "}, "--ucp-url"),
        ({"extra_env": {"UCP_PASSWORD": "x"}}, "extra_env may not set UCP_PASSWORD"),
    ],
)
def test_an_invalid_request_says_what_to_fix(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ExecutorError, match=expected) as info:
        make_request(**overrides)
    assert isinstance(info.value, HarnessError)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("line", "fatal"),
    [
        ("FATA[0112] Failed to pick existing replica: no replicas", True),
        ('time="2019-07-23T10:00:00Z" level=fatal msg="Upgrade has failed"', True),
        ('{"level":"fatal","msg":"boom"}', True),
        ("\x1b[31mFATA\x1b[0m[0003] coloured", True),
        ("ERRO[0112] Upgrade has failed. Try running it again.", False),
        ('time="2019-07-23T10:00:00Z" level=info msg="fatal error avoided"', False),
        ("INFO[0000] Beginning Docker Trusted Registry upgrade", False),
    ],
)
def test_fatal_lines(line: str, fatal: bool) -> None:
    assert fatal_line(line) is fatal


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("ERRO[0112] Upgrade has failed. Try running it again.", "error"),
        ('time="2019-07-23T10:00:00Z" level=error msg="Upgrade has failed."', "error"),
        ('time="2019-07-23T10:00:00Z" level=warning msg="slow"', "warning"),
        ('time="2019-07-23T10:00:00Z" level=info msg="level=fatal in a message"', "info"),
        ("WARN[0001] slow", "warning"),
        ("DEBU[0001] detail", "debug"),
        ('{"level":"error","msg":"boom"}', "error"),
        ("\x1b[31mERRO\x1b[0m[0003] coloured", "error"),
        ("Upgrade is complete", None),
        ("--- attempt 1 of 2.5.11 -> 2.6.4 ---", None),
        ("", None),
    ],
)
def test_log_level_reads_both_logrus_text_forms(line: str, level: str | None) -> None:
    """A terminal gets `ERRO[0112] ...`, a pipe `time="..." level=error msg="..."` (launchpad's
    cmdbuffer/logrus.go parses the latter for `docker run -i`, fidelity-review.md 15)."""
    assert log_level(line) == level


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("docker/dtr:2.6.4", ("docker/dtr", "2.6.4")),
        (
            "registry.mirantis.com:5000/msr/dtr:2.9.0",
            ("registry.mirantis.com:5000/msr/dtr", "2.9.0"),
        ),
        ("registry.example.com:5000/dtr", ("registry.example.com:5000/dtr", "latest")),
        ("mirantis/dtr@sha256:" + "a" * 64, ("mirantis/dtr", "sha256:" + "a" * 64)),
    ],
)
def test_split_image_reference(image: str, parts: tuple[str, str]) -> None:
    assert split_image_reference(image) == parts


def test_attempt_result_ok_rules() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert AttemptResult(0, None, now, 1.0).ok
    assert not AttemptResult(0, "FATA[0001] x", now, 1.0).ok
    assert not AttemptResult(1, None, now, 1.0).ok
    assert not AttemptResult(None, None, now, 1.0).ok
    assert not AttemptResult(0, None, now, 1.0, interrupted=True).ok
    assert "re-run the upgrade to resume" in AttemptResult(None, None, now, 1.0, True).describe()


# ------------------------------------------------------------------------------------------
# DockerExecutor against a fake docker SDK client


class FakeContainer:
    def __init__(
        self,
        chunks: list[bytes],
        status: int = 0,
        *,
        hang: bool = False,
        wait_error: Exception | None = None,
    ) -> None:
        self.short_id = "c0ffee"
        self.chunks = chunks
        self.status = status
        self.hang = hang
        self.wait_error = wait_error
        self.stopped = threading.Event()
        self.removed = False
        self.calls: list[str] = []

    def logs(self, **kwargs: Any) -> Iterator[bytes]:
        assert kwargs["stream"] is True
        assert kwargs["follow"] is True
        self.calls.append("logs")
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.hang:
            self.stopped.wait(5)

    def wait(self, timeout: float) -> dict[str, Any]:
        self.calls.append("wait")
        if self.wait_error is not None:
            raise self.wait_error
        if self.hang and not self.stopped.is_set():
            raise requests.exceptions.ConnectionError("UnixHTTPConnectionPool: Read timed out.")
        return {"StatusCode": self.status, "Error": None}

    def stop(self, timeout: int) -> None:
        self.calls.append(f"stop({timeout})")
        self.status = 143
        self.stopped.set()

    def kill(self) -> None:
        self.calls.append("kill")

    def remove(self, force: bool = False) -> None:
        self.calls.append("remove")
        self.removed = True


class FakeImage:
    def __init__(self, repo_digests: list[str], image_id: str = "sha256:" + "1" * 64) -> None:
        self.id = image_id
        self.attrs = {"Id": image_id, "RepoDigests": repo_digests}


class FakeClient:
    def __init__(
        self,
        container: FakeContainer | None = None,
        *,
        image: FakeImage | None = None,
        pull_events: list[dict[str, Any]] | None = None,
        run_error: Exception | None = None,
    ) -> None:
        self.container = container
        self.image = image
        self.pull_events = pull_events or []
        self.run_error = run_error
        self.run_kwargs: dict[str, Any] = {}
        self.pulls: list[tuple[str, str]] = []
        self.closed = False
        outer = self

        class API:
            def pull(self, repository: str, tag: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
                assert kwargs == {"stream": True, "decode": True}
                outer.pulls.append((repository, tag))
                return iter(outer.pull_events)

        class Images:
            def get(self, name: str) -> FakeImage:
                if outer.image is None:
                    raise docker.errors.ImageNotFound(f"No such image: {name}")
                return outer.image

        class Containers:
            def run(self, image: str, **kwargs: Any) -> FakeContainer:
                if outer.run_error is not None:
                    raise outer.run_error
                outer.run_kwargs = {"image": image, **kwargs}
                assert outer.container is not None
                return outer.container

        self.api = API()
        self.images = Images()
        self.containers = Containers()

    def close(self) -> None:
        self.closed = True


DIGEST = "sha256:" + "ab" * 32


def test_prepare_pulls_with_progress_and_records_the_repository_digest() -> None:
    events = [
        {"status": "Pulling from docker/dtr", "id": "2.6.4"},
        {
            "status": "Downloading",
            "id": "4f4fb700ef54",
            "progressDetail": {"current": 10, "total": 40},
        },
        {"status": "Digest: " + DIGEST},
        {"status": "Status: Downloaded newer image for docker/dtr:2.6.4"},
    ]
    image = FakeImage(["other/dtr@sha256:" + "0" * 64, "docker.io/docker/dtr@" + DIGEST])
    client = FakeClient(image=image, pull_events=events)
    progress: list[PullProgress] = []
    with DockerExecutor(lambda: client, on_progress=progress.append) as executor:
        info = executor.prepare(make_request())
    assert client.pulls == [("docker/dtr", "2.6.4")]
    assert (info.image, info.digest, info.pulled, info.digest_source) == (
        "docker/dtr:2.6.4",
        DIGEST,
        True,
        "registry",
    )
    assert progress[1] == PullProgress("docker/dtr:2.6.4", "Downloading", "4f4fb700ef54", 10, 40)
    assert client.closed


def test_a_pull_error_event_names_the_image_and_the_fix() -> None:
    events = [
        {
            "error": "pull access denied",
            "errorDetail": {"message": "pull access denied for docker/dtr"},
        }
    ]
    executor = DockerExecutor(lambda: FakeClient(image=FakeImage([]), pull_events=events))
    with pytest.raises(
        ExecutorError, match=r"cannot pull docker/dtr:2\.6\.4: pull access denied.*docker login"
    ):
        executor.prepare(make_request())


def test_stop_during_the_pull_ends_it() -> None:
    events = [{"status": "Downloading", "id": f"layer{i}"} for i in range(5)]
    client = FakeClient(image=FakeImage(["docker/dtr@" + DIGEST]), pull_events=events)
    seen: list[PullProgress] = []

    def on_progress(progress: PullProgress) -> None:
        seen.append(progress)
        executor.stop()

    executor = DockerExecutor(lambda: client, on_progress=on_progress)
    with pytest.raises(ExecutorError, match=r"pull of docker/dtr:2\.6\.4 was stopped"):
        executor.prepare(make_request())
    assert len(seen) == 1


def test_offline_verifies_presence_without_pulling() -> None:
    client = FakeClient(image=FakeImage(["docker/dtr@" + DIGEST]))
    info = DockerExecutor(lambda: client, offline=True).prepare(make_request())
    assert client.pulls == []
    assert (info.digest, info.pulled) == (DIGEST, False)


def test_offline_without_the_image_says_how_to_load_it() -> None:
    executor = DockerExecutor(lambda: FakeClient(image=None), offline=True)
    with pytest.raises(BootstrapperImageMissing) as info:
        executor.prepare(make_request())
    message = str(info.value)
    assert "docker/dtr:2.6.4 is not present" in message
    assert "docker load" in message
    assert "images" in message
    assert "\n" not in message


def test_a_loaded_image_without_repository_digest_is_identified_by_its_image_id() -> None:
    client = FakeClient(image=FakeImage([], image_id="sha256:" + "9" * 64))
    info = DockerExecutor(lambda: client, offline=True).prepare(make_request())
    assert (info.digest, info.digest_source) == ("sha256:" + "9" * 64, "image-id")


def test_an_unreachable_engine_names_docker_host_and_the_client_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://ucp.example.com:443")

    def unreachable() -> Any:
        raise docker.errors.DockerException(
            "Error while fetching server API version: ('Connection aborted.', "
            "ConnectionRefusedError(111))"
        )

    with pytest.raises(DockerEngineUnreachable) as info:
        DockerExecutor(unreachable).prepare(make_request())
    message = str(info.value)
    assert message.startswith("cannot reach the Docker engine at tcp://ucp.example.com:443:")
    assert "set DOCKER_HOST" in message
    assert "client bundle" in message


def test_run_streams_lines_across_chunks_and_passes_the_password_only_in_the_environment() -> None:
    container = FakeContainer(
        [
            b"INFO[0000] Beginning Docker Trusted Registry up",
            b"grade\nINFO[0001] Replacing ",
            b"5eb9459a7832\n",
            b"INFO[0002] Upgrade is complete.",
        ]
    )
    client = FakeClient(container)
    lines: list[str] = []
    result = DockerExecutor(lambda: client).run(make_request(), lines.append, timeout_s=30)
    assert lines == [
        "INFO[0000] Beginning Docker Trusted Registry upgrade",
        "INFO[0001] Replacing 5eb9459a7832",
        "INFO[0002] Upgrade is complete.",
    ]
    assert result.ok
    assert (result.exit_code, result.fatal, result.lines) == (0, None, 3)
    kwargs = client.run_kwargs
    assert kwargs["image"] == "docker/dtr:2.6.4"
    assert kwargs["command"] == ["upgrade", *bootstrapper_args(make_request())]
    assert not any(SECRET in part for part in kwargs["command"])
    assert kwargs["environment"] == {"UCP_PASSWORD": SECRET}
    assert (kwargs["detach"], kwargs["tty"], kwargs["stdin_open"], kwargs["auto_remove"]) == (
        True,
        False,
        False,
        False,
    )
    assert container.removed
    assert container.calls[-1] == "remove"


def test_a_non_zero_exit_status_fails_the_attempt() -> None:
    container = FakeContainer([b"ERRO[0112] Upgrade has failed. Try running it again.\n"], status=1)
    result = DockerExecutor(lambda: FakeClient(container)).run(make_request(), lambda _: None, 30)
    assert not result.ok
    assert (result.exit_code, result.fatal) == (1, None)
    assert container.removed


def test_a_fatal_line_fails_the_attempt_even_with_exit_status_zero() -> None:
    container = FakeContainer(
        [
            b'time="2019-07-23T10:00:00Z" level=info msg="start"\n',
            b'time="2019-07-23T10:00:01Z" level=fatal msg="Failed to pick existing replica"\n',
        ],
        status=0,
    )
    result = DockerExecutor(lambda: FakeClient(container)).run(make_request(), lambda _: None, 30)
    assert result.exit_code == 0
    assert (
        result.fatal
        == 'time="2019-07-23T10:00:01Z" level=fatal msg="Failed to pick existing replica"'
    )
    assert not result.ok
    assert "failed with exit status 0" in result.describe()


def test_a_timeout_stops_and_removes_the_container() -> None:
    container = FakeContainer([b"INFO[0000] Beginning\n"], hang=True)
    executor = DockerExecutor(lambda: FakeClient(container), clock=SteppingClock(0.5))
    result = executor.run(make_request(), lambda _: None, timeout_s=3)
    assert result.timed_out
    assert not result.interrupted
    assert not result.ok
    assert result.exit_code == 143
    assert "stop(10)" in container.calls
    assert container.removed


def test_stop_from_another_thread_interrupts_and_removes_the_container() -> None:
    container = FakeContainer([b"INFO[0000] Beginning\n"], hang=True)
    executor = DockerExecutor(lambda: FakeClient(container))

    def on_line(_: str) -> None:
        threading.Thread(target=executor.stop).start()

    result = executor.run(make_request(), on_line, timeout_s=30)
    assert result.interrupted
    assert not result.timed_out
    assert container.stopped.is_set()
    assert container.removed
    again = executor.run(make_request(), on_line, timeout_s=30)
    assert again.interrupted
    assert again.exit_code is None


def test_the_container_is_removed_when_the_line_callback_raises() -> None:
    container = FakeContainer([b"INFO[0000] Beginning\n"], hang=True)

    def on_line(_: str) -> None:
        raise KeyboardInterrupt

    executor = DockerExecutor(lambda: FakeClient(container))
    with pytest.raises(KeyboardInterrupt):
        executor.run(make_request(), on_line, 30)
    assert container.stopped.is_set()
    assert container.removed
    # The interrupted attempt is still there to be recorded.
    interrupted = executor.last_result
    assert interrupted is not None
    assert (interrupted.interrupted, interrupted.exit_code, interrupted.lines) == (True, 143, 1)


def test_an_output_error_in_the_line_callback_does_not_end_the_attempt() -> None:
    container = FakeContainer([b"INFO[0000] Beginning\n", b"INFO[0003] Upgrade is complete\n"])
    delivered: list[str] = []

    def on_line(line: str) -> None:
        delivered.append(line)
        raise BrokenPipeError(32, "Broken pipe")

    result = DockerExecutor(lambda: FakeClient(container)).run(make_request(), on_line, 30)
    assert result.ok
    assert delivered == ["INFO[0000] Beginning", "INFO[0003] Upgrade is complete"]
    assert result.output_error == "[Errno 32] Broken pipe"
    assert "stop(10)" not in container.calls


def test_an_engine_refusing_the_container_is_a_one_line_error_without_the_password() -> None:
    error = docker.errors.APIError(
        "500 Server Error", explanation=f"invalid env UCP_PASSWORD={SECRET}\nmore"
    )
    executor = DockerExecutor(lambda: FakeClient(run_error=error))
    with pytest.raises(ExecutorError) as info:
        executor.run(make_request(), lambda _: None, 30)
    message = str(info.value)
    assert "failed to start the bootstrapper container from docker/dtr:2.6.4" in message
    assert SECRET not in message
    assert "\n" not in message


def test_losing_the_engine_during_the_attempt_still_removes_the_container() -> None:
    container = FakeContainer(
        [b"INFO[0000] Beginning\n"],
        wait_error=requests.exceptions.ConnectionError("Connection aborted: engine gone"),
    )
    with pytest.raises(ExecutorError, match="lost the Docker engine"):
        DockerExecutor(lambda: FakeClient(container)).run(make_request(), lambda _: None, 30)
    assert container.removed


# ------------------------------------------------------------------------------------------
# SubprocessExecutor against a real child process

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path

    mode = sys.argv[1]
    print("pid", os.getpid(), flush=True)
    print("argv-has-secret", any("SECRET" in a for a in sys.argv), flush=True)
    print("env-password", os.environ.get("UCP_PASSWORD") == "SECRET", flush=True)
    if mode == "handshake":
        # Prints the second line only once the parent has seen the first one.
        print("one", flush=True)
        marker = Path(sys.argv[2])
        for _ in range(500):
            if marker.exists():
                break
            time.sleep(0.01)
        else:
            print("the first line was not streamed", flush=True)
            sys.exit(3)
        print("two", flush=True)
    elif mode == "fail":
        print("ERRO[0112] Upgrade has failed. Try running it again.", file=sys.stderr, flush=True)
        sys.exit(1)
    elif mode == "fatal-zero":
        print("FATA[0112] Failed to pick existing replica", file=sys.stderr, flush=True)
        sys.exit(0)
    elif mode == "hang":
        print("ready", flush=True)
        time.sleep(60)
    elif mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
    """
).replace("SECRET", SECRET)


@pytest.fixture
def child(tmp_path: Path) -> Callable[..., SubprocessExecutor]:
    script = tmp_path / "bootstrapper.py"
    script.write_text(CHILD)

    def make(*mode: str, **kwargs: Any) -> SubprocessExecutor:
        return SubprocessExecutor([sys.executable, str(script), *mode], **kwargs)

    return make


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def pid_of(lines: list[str]) -> int:
    return int(next(line for line in lines if line.startswith("pid ")).split()[1])


def test_lines_arrive_in_order_while_the_child_runs(
    child: Callable[..., SubprocessExecutor], tmp_path: Path
) -> None:
    marker = tmp_path / "seen-one"
    executor = child("handshake", str(marker))
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "one":
            marker.touch()

    result = executor.run(make_request(), on_line, timeout_s=30)
    assert lines[1:] == ["argv-has-secret False", "env-password True", "one", "two"]
    assert result.ok
    assert (result.exit_code, result.lines) == (0, 5)
    assert reaped(pid_of(lines))


def test_the_password_is_only_in_the_environment(child: Callable[..., SubprocessExecutor]) -> None:
    executor = child("fail")
    assert not any(SECRET in part for part in executor.argv(make_request()))
    assert executor.argv(make_request())[-len(bootstrapper_args(make_request())) - 1] == "upgrade"


def test_a_failing_child_reports_its_exit_status_with_stderr_merged(
    child: Callable[..., SubprocessExecutor],
) -> None:
    lines: list[str] = []
    result = child("fail").run(make_request(), lines.append, timeout_s=30)
    assert result.exit_code == 1
    assert not result.ok
    assert lines[-1] == "ERRO[0112] Upgrade has failed. Try running it again."


def test_a_fatal_line_with_exit_zero_fails(child: Callable[..., SubprocessExecutor]) -> None:
    result = child("fatal-zero").run(make_request(), lambda _: None, timeout_s=30)
    assert result.exit_code == 0
    assert result.fatal == "FATA[0112] Failed to pick existing replica"
    assert not result.ok


def test_a_timeout_terminates_the_child(child: Callable[..., SubprocessExecutor]) -> None:
    lines: list[str] = []
    executor = child("hang", clock=SteppingClock(0.05))
    result = executor.run(make_request(), lines.append, timeout_s=2)
    assert result.timed_out
    assert result.exit_code is not None
    assert result.exit_code < 0
    assert reaped(pid_of(lines))


def test_stop_from_another_thread_ends_the_child_promptly(
    child: Callable[..., SubprocessExecutor],
) -> None:
    executor = child("hang")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "ready":
            threading.Thread(target=executor.stop).start()

    result = executor.run(make_request(), on_line, timeout_s=30)
    assert result.interrupted
    assert result.duration_s < 5
    assert result.exit_code == -15
    assert reaped(pid_of(lines))
    assert executor.run(make_request(), on_line, timeout_s=30).interrupted


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(
    child: Callable[..., SubprocessExecutor],
) -> None:
    executor = child("stubborn", grace_s=0.2)
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "ready":
            executor.stop()

    result = executor.run(make_request(), on_line, timeout_s=30)
    assert result.interrupted
    assert result.exit_code == -9
    assert reaped(pid_of(lines))


def test_the_child_runs_to_its_end_when_every_line_fails_to_be_written(
    child: Callable[..., SubprocessExecutor], tmp_path: Path
) -> None:
    marker = tmp_path / "seen-one"
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "one":
            marker.touch()
        raise OSError(28, "No space left on device")

    result = child("handshake", str(marker)).run(make_request(), on_line, timeout_s=30)
    assert result.ok
    assert lines[-1] == "two"
    assert result.output_error == "[Errno 28] No space left on device"
    assert reaped(pid_of(lines))


def test_ctrl_c_in_the_line_callback_stops_the_child_and_keeps_its_result(
    child: Callable[..., SubprocessExecutor],
) -> None:
    executor = child("hang")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "ready":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        executor.run(make_request(), on_line, timeout_s=30)
    result = executor.last_result
    assert result is not None
    assert result.interrupted
    assert result.exit_code == -15
    assert result.duration_s < 10
    assert reaped(pid_of(lines))


def test_prepare_identifies_the_lab_bootstrapper_by_its_source() -> None:
    executor = SubprocessExecutor([sys.executable, "-m", "json.tool"])
    info = executor.prepare(make_request(image="docker/dtr:2.6.4"))
    assert info.digest.startswith("lab-source:sha256:")
    assert len(info.digest) == len("lab-source:sha256:") + 64
    assert (info.pulled, info.digest_source) == (False, "lab-source")
    assert executor.prepare(make_request()).digest == info.digest


def test_prepare_names_a_missing_bootstrapper_module() -> None:
    executor = SubprocessExecutor([sys.executable, "-m", "dtrlab.no_such_bootstrapper"])
    with pytest.raises(ExecutorError, match=r"dtrlab\.no_such_bootstrapper cannot be found"):
        executor.prepare(make_request())


def test_a_missing_program_is_an_executor_error(tmp_path: Path) -> None:
    executor = SubprocessExecutor([str(tmp_path / "no-such-program")])
    with pytest.raises(ExecutorError, match="cannot start the bootstrapper"):
        executor.run(make_request(), lambda _: None, timeout_s=5)


# ------------------------------------------------------------------------------------------
# SubprocessExecutor with the lab's own bootstrapper


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., Any]]:
    from dtrlab.config import LabConfig
    from dtrlab.lab import Lab

    labs: list[Lab] = []

    def make(*scenarios: str) -> Lab:
        lab = Lab(LabConfig(scenarios=scenarios or ("healthy",), swap_time=0.2, job_time=0.1))
        labs.append(lab)
        return lab.start()

    yield make
    for lab in labs:
        lab.close()


def lab_request(lab: Any, version: str = "2.6.4") -> BootstrapperRequest:
    return make_request(
        image=f"dtrlab/dtr:{version}",
        target_version=version,
        ucp_url=lab.ucp_url,
        ucp_username=lab.credentials.ucp_username,
        ucp_password=lab.credentials.ucp_password,
        ucp_ca_pem=lab.ca_pem,
        existing_replica_id=None,
    )


def test_the_lab_bootstrapper_fails_fatally_then_resumes(lab_factory: Callable[..., Any]) -> None:
    lab = lab_factory("upgrade-crash")
    request = lab_request(lab)
    executor = SubprocessExecutor(lab.bootstrapper_argv("2.6.4"))
    assert executor.prepare(request).digest_source == "lab-source"
    lines: list[str] = []
    first = executor.run(request, lines.append, timeout_s=60)
    assert not first.ok
    assert first.exit_code == 1
    assert first.fatal is not None
    assert fatal_line(first.fatal)
    assert not any(lab.credentials.ucp_password in line for line in lines)
    second = executor.run(request, lines.append, timeout_s=60)
    assert second.ok, second.describe()
    assert set(lab.replica_versions().values()) == {"2.6.4"}


def test_a_stopped_lab_upgrade_resumes_when_run_again(lab_factory: Callable[..., Any]) -> None:
    lab = lab_factory()
    request = lab_request(lab)
    executor = SubprocessExecutor(lab.bootstrapper_argv("2.6.4"))

    def on_line(line: str) -> None:
        if "Upgrading replica" in line:
            threading.Thread(target=executor.stop).start()

    stopped = executor.run(request, on_line, timeout_s=60)
    assert stopped.interrupted
    assert not stopped.ok
    again = SubprocessExecutor(lab.bootstrapper_argv("2.6.4")).run(request, lambda _: None, 60)
    assert again.ok, again.describe()
    assert set(lab.replica_versions().values()) == {"2.6.4"}
