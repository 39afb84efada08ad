"""Lab `--apply` sessions whose output fails: stdout closed like `| head`, upgrade.log on a full
disk. The upgrade must run to its own end, the failure must be recorded, the exit status stays
pytest's and no bootstrapper outlives the session."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.sessions import SESSION_TIMEOUT_S, start_session
from tests.support.disks import full_tmpfs

pytestmark = pytest.mark.slow

APPLY = ("--to-version=2.6.4", "--apply")
MARK = "DTR_UPGRADE_TEST_SESSION"


def start_marked(reports: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Start a lab session in the background; its processes carry a unique environment mark."""
    mark = uuid.uuid4().hex
    proc = start_session(
        reports,
        *args,
        env={**(env or {}), MARK: mark},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.mark = mark  # type: ignore[attr-defined]
    return proc


def marked_processes(mark: str) -> list[int]:
    """Processes still alive whose environment carries `mark` (the session's bootstrappers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
    return found


def bundle_of(reports: Path) -> Path:
    latest = reports / "latest"
    assert (latest / "result.json").is_file(), f"no result.json under {reports}"
    return latest.resolve()


def assert_every_replica_upgraded(log: str) -> None:
    (listed,) = re.findall(r"This cluster contains the replicas: ([0-9a-f ]+)", log)
    replicas = listed.split()
    assert len(replicas) == 3
    for rid in replicas:
        assert f"Replica {rid} upgraded to 2.6.4" in log
    assert "Upgrade is complete" in log


def test_a_closed_stdout_pipe_does_not_stop_the_upgrade(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = start_marked(reports, *APPLY)
    assert proc.stdout is not None
    assert proc.stderr is not None
    head = [proc.stdout.readline() for _ in range(20)]
    proc.stdout.close()  # what `| head -20` does when it has its lines
    _, stderr = proc.communicate(timeout=SESSION_TIMEOUT_S)
    errors = stderr.decode()

    assert b"collected" in b"".join(head)
    assert proc.returncode == 0, errors
    bundle = bundle_of(reports)
    result = json.loads((bundle / "result.json").read_text())
    assert result["verdict"] == "UPGRADED", result["verdict_reason"]
    upgrade = result["upgrade"]
    assert upgrade["state"] == "passed"
    assert [a["exit_code"] for a in upgrade["hops"][0]["attempts"]] == [0]
    (problem,) = upgrade["output_problems"]
    assert (problem["output"], problem["error"]) == ("stdout", "[Errno 32] Broken pipe")
    assert_every_replica_upgraded((bundle / "upgrade.log").read_text())
    # Told once on stderr; no traceback, no "Exception ignored ... BrokenPipeError" at exit.
    assert errors.count("cannot write stdout: [Errno 32] Broken pipe") == 1
    assert "Traceback" not in errors
    assert "Exception ignored" not in errors
    assert marked_processes(proc.mark) == []


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A tiny tmpfs with no space left (needs root and a mount namespace that allows it)."""
    with full_tmpfs(tmp_path / "disk") as mountpoint:
        yield mountpoint


def test_a_full_disk_under_upgrade_log_does_not_stop_the_upgrade(
    tmp_path: Path, full_disk: Path
) -> None:
    # The rest of the bundle stays on a disk with room (PRE-REPORT-SPACE asks for 64 MiB);
    # only upgrade.log lives on the full one, so every line the upgrade logs meets ENOSPC.
    reports = tmp_path / "reports"
    with start_marked(reports, *APPLY) as proc:
        try:
            deadline = time.monotonic() + SESSION_TIMEOUT_S
            while not (staged := list(reports.glob(".incomplete-*"))):
                assert proc.poll() is None, "the session ended before it staged a bundle"
                assert time.monotonic() < deadline, "no bundle was staged"
                time.sleep(0.005)
            (staged[0] / "upgrade.log").symlink_to(full_disk / "upgrade.log")
            stdout, stderr = proc.communicate(timeout=SESSION_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = stdout.decode()

    told = f"cannot write {staged[0] / 'upgrade.log'}: [Errno 28] No space left on device"
    assert text.count(told) == 1, text
    assert stderr.decode() == ""
    # The upgrade completed; its log did not: the evidence is incomplete, and the exit says so.
    assert proc.returncode == 1, text
    assert text.rstrip().endswith("but the evidence bundle is incomplete (1 problem above)."), text
    assert "the bundle is incomplete: upgrade.log: [Errno 28] No space left on device;" in text
    bundle = bundle_of(reports)
    assert (full_disk / "upgrade.log").read_bytes() == b""
    result = json.loads((bundle / "result.json").read_text())
    upgrade = result["upgrade"]
    assert upgrade["state"] == "passed", upgrade["message"]
    assert [a["exit_code"] for a in upgrade["hops"][0]["attempts"]] == [0]
    (problem,) = upgrade["output_problems"]
    assert problem["output"] == str(staged[0] / "upgrade.log")
    assert problem["error"] == "[Errno 28] No space left on device"
    assert problem["lost"] > 15  # every line: each one was tried, none was held back
    post = [c for c in result["checks"] if c["phase"] == "post"]
    assert post
    assert all(c["outcome"] in ("passed", "skipped") for c in post), post
    assert result["verdict"] == "UPGRADED", result["verdict_reason"]
    assert marked_processes(proc.mark) == []


@pytest.mark.parametrize("phase", ["preflight", "post"])
def test_a_data_proof_file_on_a_full_disk_is_lost_evidence_not_a_failed_check(
    tmp_path: Path, full_disk: Path, phase: str
) -> None:
    # The proof's file is written whole to a temporary name, then renamed: that name is on the
    # full disk, so the write meets ENOSPC; the rest of the bundle has room.
    name = f"data-proof-{phase}.json"
    reports = tmp_path / "reports"
    with start_marked(reports, *APPLY, "--data-proof=sample:4", "--data-proof-seed=77") as proc:
        try:
            deadline = time.monotonic() + SESSION_TIMEOUT_S
            while not (staged := list(reports.glob(".incomplete-*"))):
                assert proc.poll() is None, "the session ended before it staged a bundle"
                assert time.monotonic() < deadline, "no bundle was staged"
                time.sleep(0.005)
            (staged[0] / f"{name}.tmp").symlink_to(full_disk / name)
            stdout, _ = proc.communicate(timeout=SESSION_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = stdout.decode()

    assert proc.returncode == 1, text
    assert text.rstrip().endswith("but the evidence bundle is incomplete (1 problem above)."), text
    assert f"{name}: not written (No space left on device); the proof was judged" in text
    assert "harness bug" not in text, text
    bundle = bundle_of(reports)
    assert not (bundle / name).exists()
    assert not (bundle / f"{name}.tmp").exists()
    result = json.loads((bundle / "result.json").read_text())
    assert result["verdict"] == "UPGRADED", result["verdict_reason"]
    assert result["bundle_problems"] == [
        f"{name}: not written (No space left on device); the proof was judged"
    ]
    proofs = [c for c in result["checks"] if c["id"] in ("PRE-DATA-PROOF", "POST-DATA-PROOF")]
    assert [c["outcome"] for c in proofs] == ["passed", "passed"], proofs
    for check in proofs:
        assert check["evidence"]["data_proof"]["seed"] == 77
        assert check["evidence"]["data_proof"]["mode"] == "sample:4"
