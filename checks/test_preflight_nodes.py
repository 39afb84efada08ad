"""Preflight: the nodes have the memory, disk, engine and clock the upgrade needs (testinfra),
and the change is inside its maintenance window."""

from __future__ import annotations

import pytest

from upgrade.cluster.nodes import NodeFacts, engine_at_least
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-NODE-MEMORY")
def test_node_memory(
    node_facts: NodeFacts, node_index: int, settings: Settings, evidence: CheckRecord
) -> None:
    """The node that runs the upgrade (the first of --hosts) has at least
    --min-free-memory-gb of memory available (the guide: 16 GB on the upgrading node)."""
    evidence.attach("node", node_facts)
    if node_index != 0:
        pytest.skip(f"{node_facts.spec} does not run the upgrade (the first --hosts entry does)")
    assert node_facts.mem_available_gb >= settings.min_free_memory_gb, (
        f"{node_facts.hostname} has {node_facts.mem_available_gb:.1f} GB available, the upgrade "
        f"needs {settings.min_free_memory_gb:g} GB; free memory or run it on another node"
    )


@pytest.mark.check("PRE-NODE-DISK")
def test_node_disk(node_facts: NodeFacts, settings: Settings, evidence: CheckRecord) -> None:
    """The node has --min-free-disk-gb free under /var/lib/docker for the new DTR images."""
    evidence.attach("node", node_facts)
    assert node_facts.disk_free_gb >= settings.min_free_disk_gb, (
        f"{node_facts.hostname} has {node_facts.disk_free_gb:.1f} GB free on "
        f"{node_facts.disk_path}, needs {settings.min_free_disk_gb:g} GB; prune images first"
    )


@pytest.mark.check("PRE-NODE-ENGINE")
def test_node_engine(node_facts: NodeFacts, settings: Settings, evidence: CheckRecord) -> None:
    """The node's Docker engine answers and is at least --min-engine-version."""
    evidence.attach("node", node_facts)
    assert node_facts.engine_version, (
        f"no Docker engine answered on {node_facts.hostname} (`docker version` failed); "
        "start it, or give the account access to the Docker socket"
    )
    assert engine_at_least(node_facts.engine_version, settings.min_engine_version), (
        f"{node_facts.hostname} runs Docker engine {node_facts.engine_version}, older than "
        f"{settings.min_engine_version}; upgrade the engine first"
    )


@pytest.mark.check("PRE-NODE-CLOCK")
def test_node_clock(node_facts: NodeFacts, settings: Settings, evidence: CheckRecord) -> None:
    """The node's clock is within --max-clock-skew of this machine's: RethinkDB heartbeats,
    TLS validity and job scheduling all depend on agreeing clocks."""
    evidence.attach("node", node_facts)
    limit = settings.max_clock_skew.total_seconds()
    assert abs(node_facts.clock_offset_s) <= limit, (
        f"{node_facts.hostname}'s clock is {node_facts.clock_offset_s:+.2f} s off (limit "
        f"{limit:g} s); fix NTP on the node"
    )


@pytest.mark.check("PRE-WINDOW")
def test_inside_maintenance_window(settings: Settings, evidence: CheckRecord) -> None:
    """The session starts inside the maintenance window given by --window."""
    if settings.window is None:
        pytest.skip("no --window given")
    now = utc_now()
    evidence.attach("window", str(settings.window))
    evidence.attach("now", now)
    assert settings.window.start <= now, (
        f"the maintenance window opens at {settings.window.start.isoformat()}; it is "
        f"{now.isoformat()}: wait for it"
    )
    assert now < settings.window.end, (
        f"the maintenance window closed at {settings.window.end.isoformat()}; it is "
        f"{now.isoformat()}: reschedule the change"
    )
    evidence.attach("minutes_left", round((settings.window.end - now).total_seconds() / 60, 1))
