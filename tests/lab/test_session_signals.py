"""Every way a CI system or an operator stops a session: SIGTERM, SIGINT and SIGKILL at random
points of a lab `--apply` session. Each bundle left behind verifies, or is named as unfinished
(and sealed) by the next session; no bootstrapper outlives its session."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.lab.sessions import ROOT, session_argv
from upgrade.evidence import integrity

KILLS = 20
SEED = int(os.environ.get("DTR_UPGRADE_KILL_SEED", "20261201"))
SESSION_TIMEOUT_S = 90
# A lab --apply session takes about 8 s here: signals land from start-up to the post checks.
LATEST_KILL_S = 9.0
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)


def _tagged_processes(tag: str) -> list[int]:
    """Processes whose environment carries `tag` (the session and everything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"DTRLAB_TEST_TAG={tag}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _wait_gone(tag: str, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    left = _tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _tagged_processes(tag)
    return left


# A process started in the background of a shell without job control inherits SIGINT
# ignored, and Python then leaves it ignored: reset it, so SIGINT acts as Ctrl-C does.
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def _session(
    reports: Path, tag: str, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """One lab session; its output goes to `log` (kept to explain a verdict the test refuses)."""
    argv = session_argv(reports, *args, python=(sys.executable, "-c", DEFAULT_SIGINT))
    env = {**os.environ, "DTRLAB_TEST_TAG": tag}
    if log is None:
        return subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)


def _explain(bundle: Path, logs: Path) -> str:
    """The verdict's sentence and the tail of the session log that names `bundle`."""
    reason = json.loads((bundle / "result.json").read_text()).get("verdict_reason", "")
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        if bundle.name in text:
            return f"{reason}\n--- {log.name} ---\n" + "\n".join(text.splitlines()[-40:])
    return reason


@pytest.mark.slow
def test_random_signals_never_lose_a_bundle_or_leave_a_bootstrapper(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    reports = tmp_path / "reports"
    logs = tmp_path / "logs"
    logs.mkdir()
    ended: list[tuple[str, float, int | None]] = []
    for number in range(KILLS):
        sig = rng.choice(SIGNALS)
        delay = rng.uniform(0.2, LATEST_KILL_S)
        tag = uuid.uuid4().hex
        log = logs / f"{number:02d}-{sig.name}-{delay:.2f}s.log"
        proc = _session(
            reports, tag, "--to-version=2.6.4", "--apply", "--upgrade-backoff=0", log=log
        )
        time.sleep(delay)
        proc.send_signal(sig)
        try:
            status = proc.wait(timeout=SESSION_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"seed {SEED}: {sig.name} after {delay:.1f} s: the session did not end")
        ended.append((sig.name, delay, status))
        left = _wait_gone(tag, 5.0)
        assert not left, (
            f"seed {SEED}: {sig.name} after {delay:.1f} s left processes {left} of the session"
        )
    # The next session finds what the killed ones left and seals it.
    tag = uuid.uuid4().hex
    after = _session(reports, tag, "--to-version=2.6.4", log=logs / "after.log")
    assert after.wait(timeout=SESSION_TIMEOUT_S) in (0, 1)
    assert not list(reports.glob(".incomplete-*")), "a staged bundle was left unnamed"
    bundles = [p for p in reports.iterdir() if p.is_dir() and not p.is_symlink()]
    assert bundles
    for bundle in bundles:
        checked = integrity.verify(bundle)
        assert checked.ok, f"seed {SEED}: {bundle.name} does not verify: {checked}"
        if "-unfinished-" in bundle.name:
            note = json.loads((bundle / "UNFINISHED.json").read_text())
            assert note["verdict"] == "UNFINISHED"
            continue
        verdict = json.loads((bundle / "result.json").read_text())["verdict"]
        assert verdict in ("INTERRUPTED", "UPGRADED", "GO", "NO-GO"), (
            f"seed {SEED}: {bundle.name}: {verdict}: {_explain(bundle, logs)}"
        )
    handled = [e for e in ended if e[0] != "SIGKILL" and e[2] is not None]
    latest = reports / "latest"
    assert latest.is_symlink()
    assert (latest / "result.json").is_file()
    assert handled, f"seed {SEED}: no SIGTERM or SIGINT among {ended}"


@pytest.mark.slow
def test_a_stop_after_the_upgrade_gives_the_whole_verify_command(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    log = tmp_path / "session.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-c", DEFAULT_SIGINT, "-m", "pytest", "-p", "no:cacheprovider",
                "--target=lab", "--report-dir", str(reports), "--to-version=2.6.4", "--apply",
                "--change-id=CHG-42", "--settle-timeout=60s",
            ],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + SESSION_TIMEOUT_S
        while b"upgrade passed" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=SESSION_TIMEOUT_S) == pytest.ExitCode.INTERRUPTED
    last = log.read_text().rstrip().splitlines()[-1]
    assert last.startswith("VERDICT: INTERRUPTED - the session was stopped by SIGTERM"), last
    assert "after the upgrade completed; verify it with pytest " in last
    command = last.split("verify it with ", 1)[1]
    assert "--apply" not in command
    for kept in ("--target=lab", f"--report-dir {reports}", "--to-version=2.6.4", "CHG-42"):
        assert kept in command, command
    bundle = (reports / "latest").resolve()
    assert f"--phase=post --baseline={bundle / 'baseline.json'}" in command
    assert (bundle / "baseline.json").is_file()


STOP_AFTER_THE_PROCEDURE = '''
"""Stop the session (as Ctrl-C does) just after the bootstrapper's procedure ended, while the
session is still completing the upgrade's record."""
from upgrade.procedure import session


def _stop(self):
    raise KeyboardInterrupt


session.SessionUpgrade._record_engine = _stop
'''


def test_a_stop_while_the_finished_upgrade_is_recorded_still_says_it_completed(
    tmp_path: Path,
) -> None:
    """The race a SIGTERM can meet: the procedure returned `passed` and the stop lands before
    the run state learns it. The verdict must not tell the operator to re-run the upgrade."""
    (tmp_path / "stop_after_the_procedure.py").write_text(STOP_AFTER_THE_PROCEDURE)
    reports = tmp_path / "reports"
    proc = subprocess.run(
        session_argv(reports, "--to-version=2.6.4", "--apply", "-p", "stop_after_the_procedure"),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=SESSION_TIMEOUT_S,
    )
    last = proc.stdout.rstrip().splitlines()[-1]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, proc.stdout[-2000:]
    assert last.startswith("VERDICT: INTERRUPTED"), last
    assert "after the upgrade completed; verify it with pytest " in last, last
    assert "--phase=post --baseline=" in last, last
    result = json.loads(((reports / "latest").resolve() / "result.json").read_text())
    assert result["upgrade"]["state"] == "passed"
