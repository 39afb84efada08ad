"""PRE-NODE-ENGINE in real sessions: the check module of checks/ with a node whose facts are
given, so the default minimum engine of the running DTR line is what is judged
(fidelity-review.md 10: Docker EE 2.0's DTR 2.4/2.5 ran on 17.06-ee engines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.pytester_checks import run_for_record

pytest_plugins = ["pytester"]

CHECK = Path(__file__).resolve().parents[2] / "checks" / "test_preflight_nodes.py"
ID = "PRE-NODE-ENGINE"

# Only the engine matters here: every other fact is a plausible number (32 GiB of memory,
# disk) or the name of the node, whatever other facts NodeFacts carries.
CONFTEST = """
import dataclasses

import pytest

from upgrade.cluster.nodes import NodeFacts
from upgrade.rules.versions import Version

FACTS = {{
    "spec": "ssh://node-1",
    "hostname": "node-1",
    "disk_path": "/var/lib/docker",
    "engine_version": {engine!r},
    "clock_offset_s": 0.0,
}}


@pytest.fixture
def node_facts():
    fields = [f for f in dataclasses.fields(NodeFacts) if f.init]
    return NodeFacts(**{{f.name: FACTS.get(f.name, 32 * 2**30) for f in fields}})


@pytest.fixture(scope="session")
def current_version():
    return Version.parse({dtr!r})
"""


def session(
    pytester: pytest.Pytester, engine: str, dtr: str, *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run PRE-NODE-ENGINE alone for one node; return the run and the check's record."""
    pytester.makepyfile(test_preflight_nodes=CHECK.read_text())
    pytester.makeconftest(CONFTEST.format(engine=engine, dtr=dtr))
    result, _, record = run_for_record(
        pytester, ID, "--hosts=ssh://node-1", "-k", "test_node_engine", *args
    )
    return result, record


@pytest.mark.parametrize("dtr", ["2.4.12", "2.5.11"])
def test_a_17_06_ee_engine_passes_for_the_dtr_lines_that_ran_on_it(
    pytester: pytest.Pytester, dtr: str
) -> None:
    """The fixed 18.09.0 default refused these nodes: a false NO-GO on every 2.4 -> 2.5."""
    _, record = session(pytester, "17.06.2-ee-16", dtr)
    assert record["outcome"] == "passed", record
    assert record["evidence"]["min_engine_version"] == "17.06.0"
    assert "Docker EE" in record["evidence"]["min_engine_basis"]


def test_the_default_for_dtr_2_6_is_its_bundles_18_09(pytester: pytest.Pytester) -> None:
    _, record = session(pytester, "17.06.2-ee-16", "2.6.4")
    assert record["outcome"] == "failed"
    message = record["message"]
    assert "node-1 runs Docker engine 17.06.2-ee-16, older than 18.09.0" in message
    assert "Docker Enterprise 2.1 bundle" in message
    assert "--min-engine-version overrides it" in message


def test_an_explicit_minimum_wins(pytester: pytest.Pytester) -> None:
    _, record = session(pytester, "17.06.2-ee-16", "2.5.11", "--min-engine-version=18.09.0")
    assert record["outcome"] == "failed"
    assert "older than 18.09.0 (--min-engine-version)" in record["message"]
    assert record["evidence"]["min_engine_basis"] == "--min-engine-version"
