"""PRE-NODE-MEMORY's rules: the guide's 16 GB is the node's RAM (MemTotal, the system
requirements; fidelity-review.md 4), measured on the node that runs the bootstrapper."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from upgrade.cluster.nodes import BootstrapperNode, bootstrapper_node, gather
from upgrade.errors import HarnessError

# A 16 GiB machine as Linux reports it: the kernel keeps a share, and workloads use some.
SIXTEEN_GIB_HOST = "MemTotal:       16303528 kB\nMemFree: 1000 kB\nMemAvailable:    9437184 kB\n"


class Host:
    def __init__(self, meminfo: str) -> None:
        self.meminfo = meminfo

    def run(self, command: str, *args: str) -> Any:
        answers = {
            "hostname": "node1",
            "date": "1000.0",
            "cat": self.meminfo,
            "test": "",
            "docker": "20.10.24\n",
            "df": "Filesystem 1-blocks Used Available Capacity Mounted\n/dev/sda1 1 1 999 1% /",
        }
        return SimpleNamespace(rc=0, stdout=answers[command.split()[0]], stderr="")


def test_a_16_gib_host_with_workloads_meets_the_16_gb_of_ram() -> None:
    facts = gather(
        "ssh://node1", clock=lambda: 1000.0, get_host=lambda spec: Host(SIXTEEN_GIB_HOST)
    )
    assert facts.mem_total_gb >= 16  # 16.69 GB: what the system requirements mean
    assert facts.mem_available_gb < 16  # what the check used to compare (9.66 GB)


class Engine:
    def __init__(self, version: str, name: str = "node-2.example.com") -> None:
        self._version, self._name = version, name
        self.closed = False

    def version(self) -> dict[str, str]:
        return {"Version": self._version}

    def info(self) -> dict[str, str]:
        return {"Name": self._name}

    def close(self) -> None:
        self.closed = True


def test_a_single_engine_runs_the_bootstrapper_on_its_own_node() -> None:
    engine = Engine("20.10.24")
    where = bootstrapper_node(True, lambda: engine)
    assert where.name == "node-2.example.com"
    assert "(DOCKER_HOST) runs it on node-2.example.com" in where.how
    assert where.is_node("NODE-2")
    assert not where.is_node("node-1")
    assert engine.closed


def test_through_ucp_the_node_is_not_known_beforehand() -> None:
    where = bootstrapper_node(True, lambda: Engine("ucp/3.1.6"))
    assert where.name is None
    assert "UCP at" in where.how
    assert "picks" in where.how


def test_the_lab_process_runs_on_this_machine_and_an_absent_engine_is_unknown() -> None:
    assert bootstrapper_node(False, this_machine=lambda: "vm") == BootstrapperNode(
        "vm", "the lab's bootstrapper runs as a process on vm"
    )

    def unreachable() -> Any:
        raise HarnessError("cannot reach the Docker engine at unix:///x")

    where = bootstrapper_node(True, unreachable)
    assert where.name is None
    assert "no Docker engine answered" in where.how
