"""The upgrade procedure with a real child bootstrapper: output errors never stop it, and an
attempt ended by Ctrl-C is recorded."""

from __future__ import annotations

import errno
import io
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from upgrade.procedure.bootstrapper import BootstrapperRequest
from upgrade.procedure.procedure import Limits, UpgradeProcedure
from upgrade.procedure.process_executor import SubprocessExecutor
from upgrade.procedure.session import UpgradeOutput
from upgrade.rules.versions import Version

REPLICAS = ("5eb9459a7832", "a1b2c3d4e5f6", "0f9e8d7c6b5a")

CHILD = textwrap.dedent(
    """
    import sys, time
    mode = sys.argv[1]
    print("INFO[0000] This cluster contains the replicas: " + " ".join(REPLICAS), flush=True)
    if mode == "hang":
        print("ready", flush=True)
        time.sleep(60)
    for rid in REPLICAS:
        print(f"INFO[0001] Upgrading replica {rid}", flush=True)
        print(f"INFO[0002] Replica {rid} upgraded to 2.6.4", flush=True)
    print("INFO[0003] Upgrade is complete", flush=True)
    """
).replace("REPLICAS", repr(REPLICAS))

PATH = (Version.parse("2.5.11"), Version.parse("2.6.4"))


def request_for(_: Version) -> BootstrapperRequest:
    return BootstrapperRequest(
        image="dtrlab/dtr:2.6.4",
        target_version="2.6.4",
        ucp_url="https://ucp.example.com",
        ucp_username="admin",
        ucp_password="s3cr3t",
        ucp_insecure_tls=True,
    )


@pytest.fixture
def bootstrapper(tmp_path: Path) -> Callable[[str], SubprocessExecutor]:
    script = tmp_path / "bootstrapper.py"
    script.write_text(CHILD)
    return lambda mode: SubprocessExecutor([sys.executable, str(script), mode], grace_s=2)


def procedure(
    executor: SubprocessExecutor,
    on_line: Callable[[str], None],
    on_event: Callable[[str], None],
) -> UpgradeProcedure:
    return UpgradeProcedure(
        lambda _: executor,
        request_for,
        Limits(attempts=3, timeout_s=60, backoff_s=0),
        on_line=on_line,
        on_event=on_event,
        sleep=lambda _: None,
    )


class FailingLog(io.BytesIO):
    """upgrade.log on a disk that fills up after `room` lines."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: Any) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return super().write(data)


def test_a_full_disk_and_a_broken_terminal_do_not_stop_the_bootstrapper(
    bootstrapper: Callable[[str], SubprocessExecutor],
) -> None:
    log = FailingLog(room=4)
    told: list[str] = []

    def say(text: str) -> None:
        told.append(text)
        if len(told) > 2:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    output = UpgradeOutput(lambda: log, "/reports/.incomplete-x/upgrade.log", say)
    output.open()
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        output.log(line)
        output.tell(line)

    def on_event(text: str) -> None:
        output.tell(text)
        output.log(f"# {text}")

    record = procedure(bootstrapper("complete"), on_line, on_event).run(PATH)

    assert record.state == "passed"
    (attempt,) = record.hops[0].attempts
    assert attempt.ok
    assert seen[-1] == "INFO[0003] Upgrade is complete"
    assert [line for line in seen if "upgraded to" in line] == [
        f"INFO[0002] Replica {rid} upgraded to 2.6.4" for rid in REPLICAS
    ]
    log_problem, terminal_problem = output.problems()
    assert log_problem.output == "/reports/.incomplete-x/upgrade.log"
    assert log_problem.error == "[Errno 28] No space left on device"
    assert log_problem.lost == len(seen) + 3 - 4  # every line and event after the fourth write
    assert terminal_problem.output == "terminal"
    assert terminal_problem.error == "[Errno 32] Broken pipe"
    assert len(log.getvalue().splitlines()) == 4


def test_the_log_is_told_once_on_the_terminal_and_resumes_when_space_returns() -> None:
    log = FailingLog(room=1)
    told: list[str] = []
    output = UpgradeOutput(lambda: log, "upgrade.log", told.append)
    output.open()
    for number in range(5):
        output.log(f"line {number}")
    log.room = 10
    output.log("line 5")
    assert [line.split(" ", 1)[1] for line in log.getvalue().decode().splitlines()] == [
        "line 0",
        "line 5",
    ]
    (problem,) = output.problems()
    assert problem.lost == 4
    assert told == [
        "dtr-upgrade: cannot write upgrade.log: [Errno 28] No space left on device; the upgrade "
        "goes on, and result.json counts the log lines that could not be written"
    ]


def test_a_log_that_cannot_be_opened_is_a_recorded_problem() -> None:
    def refuse() -> Any:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    told: list[str] = []
    output = UpgradeOutput(refuse, "upgrade.log", told.append)
    output.open()
    output.log("a line")
    (problem,) = output.problems()
    assert (problem.error, problem.lost) == ("[Errno 13] Permission denied", 2)
    assert len(told) == 1
    output.close()


def test_an_attempt_interrupted_by_ctrl_c_is_recorded(
    bootstrapper: Callable[[str], SubprocessExecutor],
) -> None:
    executor = bootstrapper("hang")

    def on_line(line: str) -> None:
        if line == "ready":
            raise KeyboardInterrupt  # Ctrl-C arrives while the bootstrapper runs

    upgrade = procedure(executor, on_line, lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        upgrade.run(PATH)

    record = upgrade.record
    assert record.state == "interrupted"
    # Shown as "upgrade interrupted: <message>": the message says what happened, not the state.
    assert record.message == "the bootstrapper was stopped before it finished"
    (attempt,) = record.hops[0].attempts
    assert attempt.interrupted
    assert attempt.exit_code == -15  # stopped with SIGTERM
    assert 0 < attempt.duration_s < 10
    assert attempt.lines == 2
    assert record.as_dict()["hops"][0]["attempts"][0]["interrupted"] is True
    assert executor.stopped


def test_the_record_lists_output_problems() -> None:
    output = UpgradeOutput(lambda: FailingLog(room=0), "upgrade.log", lambda _: None)
    output.open()
    output.log("x")
    upgrade = procedure(SubprocessExecutor(["true"]), lambda _: None, lambda _: None)
    upgrade.record.output_problems = output.problems()
    (problem,) = upgrade.record.as_dict()["output_problems"]
    assert problem["output"] == "upgrade.log"
    assert problem["error"] == "[Errno 28] No space left on device"
    assert problem["lost"] == 1
