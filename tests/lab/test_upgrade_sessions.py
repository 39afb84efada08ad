"""Real upgrade sessions against the lab: replica-at-a-time, resume, failure, outage, Ctrl-C."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.lab.sessions import run_session, start_session

APPLY = ("--to-version=2.6.4", "--apply", "--upgrade-backoff=0.2s")


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def lb_endpoints(availability: dict[str, object]) -> dict[str, dict[str, object]]:
    endpoints = availability["endpoints"]
    assert isinstance(endpoints, dict)
    return {name: data for name, data in endpoints.items() if name.startswith("lb ")}


def test_healthy_upgrade_replaces_one_replica_at_a_time(tmp_path: Path) -> None:
    run = run_session(tmp_path, *APPLY)
    assert run.status == 0, run.output
    result = run.result
    assert result["verdict"] == "UPGRADED"
    assert run.last_line.startswith("VERDICT: UPGRADED")
    upgrade = result["upgrade"]
    assert upgrade["state"] == "passed"
    assert [len(hop["attempts"]) for hop in upgrade["hops"]] == [1]
    assert upgrade["image_digest"].startswith("lab-source:sha256:")

    endpoints = result["availability"]["endpoints"]
    replicas = {n: d for n, d in endpoints.items() if n.startswith("replica ") and "fresh" in n}
    assert len(replicas) == 3
    windows = []
    for name, data in replicas.items():
        assert len(data["outages"]) == 1, (name, data["outages"])
        outage = data["outages"][0]
        assert 0.5 <= outage["duration_s"] <= 2.0, (name, outage)
        windows.append((outage["start"], outage["end"]))
    windows.sort()
    for (_, end), (start, _) in itertools.pairwise(windows):
        overlap = (parse(end) - parse(start)).total_seconds()
        # sampling brackets each edge to one interval, so adjacent windows may touch
        assert overlap <= 0.25, f"two replicas were down at once: {windows}"
    for name, data in lb_endpoints(result["availability"]).items():
        assert data["longest_outage_s"] == 0, (name, data["outages"])

    log = (run.bundle / "upgrade.log").read_text()
    assert "Upgrade is complete" in log


def test_crash_is_resumed_by_a_second_attempt(tmp_path: Path) -> None:
    run = run_session(tmp_path, *APPLY, "--lab-scenario=upgrade-crash")
    assert run.status == 0, run.output
    result = run.result
    assert result["verdict"] == "UPGRADED"
    attempts = result["upgrade"]["hops"][0]["attempts"]
    assert [a["exit_code"] for a in attempts] == [1, 0]
    assert "level=fatal" in attempts[0]["fatal"]
    # without a TTY the bootstrapper logs key=value lines; level=error ones reach the terminal
    assert 'level=error msg="Upgrade has failed. Try running it again."' in run.output
    log = (run.bundle / "upgrade.log").read_text()
    assert "--- attempt 1 of 2.5.11 -> 2.6.4 ---" in log
    assert "--- attempt 2 of 2.5.11 -> 2.6.4 ---" in log
    assert "already at 2.6.4; skipping" in log
    (check,) = run.checks("UPG-BOOTSTRAPPER")
    assert any("needed 2 attempts" in note for note in check["notes"])


def test_crash_always_is_upgrade_failed_and_post_checks_skip(tmp_path: Path) -> None:
    run = run_session(
        tmp_path, *APPLY, "--upgrade-attempts=2", "--lab-scenario=upgrade-crash-always"
    )
    assert run.status == 1
    result = run.result
    assert result["verdict"] == "UPGRADE-FAILED"
    assert len(result["upgrade"]["hops"][0]["attempts"]) == 2
    post = [c for c in result["checks"] if c["phase"] == "post"]
    assert post
    for check in post:
        assert check["outcome"] == "skipped"
        assert check["message"].startswith("the upgrade failed: 2.5.11 -> 2.6.4 failed 2 time(s)")


def test_long_outage_is_measured_to_the_tenth_of_a_second(tmp_path: Path) -> None:
    run = run_session(tmp_path, *APPLY, "--lab-scenario=long-outage")
    result = run.result
    assert result["verdict"] == "VERIFY-FAILED"
    assert run.failed_ids() == {"POST-DOWNTIME"}
    for name, data in lb_endpoints(result["availability"]).items():
        assert abs(data["longest_outage_s"] - 8.0) <= 0.2, (name, data["longest_outage_s"])
    (check,) = run.checks("POST-DOWNTIME")
    assert "over the 5 s budget" in check["message"]


def test_sigint_during_the_upgrade_still_writes_the_bundle(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = start_session(
        reports,
        *APPLY,
        env={"PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        lines.append(line)
        if "Upgrading replica" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 2, output
    result = json.loads((reports / "latest" / "result.json").read_text())
    assert result["verdict"] == "INTERRUPTED"
    assert "re-run the same command" in result["verdict_reason"]
    assert result["upgrade"]["state"] == "interrupted"
    assert output.rstrip().splitlines()[-1].startswith("VERDICT: INTERRUPTED")
    assert (reports / "latest" / "upgrade.log").is_file()


def test_multi_hop_needs_the_flag_and_then_runs_every_hop(tmp_path: Path) -> None:
    refused = run_session(tmp_path / "refused", "--lab-version=2.4.12", *APPLY)
    assert refused.result["verdict"] == "NO-GO"
    (check,) = refused.checks("PRE-VERSION-PATH")
    assert "2.4.12 -> 2.5.11 -> 2.6.4" in check["message"]
    assert "--allow-multi-hop" in check["message"]

    # The lab's UCP 3.1.6 fits the stop 2.5.11 only by a site catalogue's pairing: the shipped
    # one pairs DTR 2.5 with UCP 3.0 alone, and PRE-UCP-HOPS would refuse the stop.
    site = tmp_path / "site.toml"
    site.write_text('[[ucp]]\ndtr = "2.5"\nucp_min = "3.0"\nucp_max = "3.1"\n', "utf-8")
    run = run_session(
        tmp_path / "multi",
        "--lab-version=2.4.12",
        "--allow-multi-hop",
        f"--catalog={site}",
        *APPLY,
    )
    assert run.result["verdict"] == "UPGRADED", run.output
    hops = [(hop["from"], hop["to"]) for hop in run.result["upgrade"]["hops"]]
    assert hops == [("2.4.12", "2.5.11"), ("2.5.11", "2.6.4")]
    log = (run.bundle / "upgrade.log").read_text()
    assert "cluster healthy on 2.5.11" in log
    assert "scannedlayermigration after 2.4.12 -> 2.5.11: done" in log
