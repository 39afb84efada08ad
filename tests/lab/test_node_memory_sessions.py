"""PRE-NODE-MEMORY in a session: it measures the node's RAM on the node that runs the
bootstrapper and says which node that is and how it was told (fidelity-review.md 4)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.lab.sessions import run_session


def test_the_memory_check_names_the_node_that_runs_the_bootstrapper(tmp_path: Path) -> None:
    run = run_session(
        tmp_path, "--to-version=2.6.4", "--hosts=local://", "--min-free-memory-gb=100000"
    )
    (check,) = run.checks("PRE-NODE-MEMORY")
    assert check["outcome"] == "failed"
    this_machine = socket.gethostname()
    assert (
        f"(local://), the node that runs the bootstrapper (the lab's bootstrapper runs as a "
        f"process on {this_machine}), has"
    ) in check["message"]
    assert "GB of RAM, the upgrade needs 100000 GB" in check["message"]
    assert check["evidence"]["bootstrapper_node"]["name"] == this_machine
    assert (
        check["evidence"]["node"]["mem_total_bytes"]
        > check["evidence"]["node"]["mem_available_bytes"]
    )


def test_a_node_with_the_ram_passes_whatever_is_available_now(tmp_path: Path) -> None:
    """The threshold is MemTotal: a limit between this machine's available and total memory
    passes (it failed while MemAvailable was compared)."""
    meminfo = {
        line.split(":")[0]: int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith(("MemTotal", "MemAvailable"))
    }
    between = (meminfo["MemTotal"] + meminfo["MemAvailable"]) / 2 / 10**9
    run = run_session(
        tmp_path, "--to-version=2.6.4", "--hosts=local://", f"--min-free-memory-gb={between:.3f}"
    )
    (check,) = run.checks("PRE-NODE-MEMORY")
    assert check["outcome"] == "passed", check
