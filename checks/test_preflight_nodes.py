"""Preflight: the nodes have the memory, disk, engine and clock the upgrade needs (testinfra),
and the change is inside its maintenance window."""

from __future__ import annotations

import pytest

from upgrade.cluster.nodes import NodeFacts, bootstrapper_node, engine_at_least
from upgrade.cluster.site import Site
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now
from upgrade.plugin.harness import Harness
from upgrade.rules.engines import engine_minimum
from upgrade.rules.versions import Version

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-NODE-MEMORY")
def test_node_memory(
    node_facts: NodeFacts, harness: Harness, site: Site, settings: Settings, evidence: CheckRecord
) -> None:
    """The node that runs the bootstrapper has at least --min-free-memory-gb of RAM in total:
    the guide's "16GB of available RAM" links to the system requirements, where 16 GB is the
    node's RAM (fidelity-review.md 4), so MemTotal is compared in GB of 10^9 bytes and
    MemAvailable is evidence. That node is the engine's of DOCKER_HOST (`docker info`), this
    machine for the lab's bootstrapper process; through UCP, which picks it when the container
    starts, every --hosts node is measured."""
    where = bootstrapper_node(site.has_engine)
    evidence.attach("node", node_facts)
    evidence.attach("bootstrapper_node", where)
    limit = settings.min_free_memory_gb
    if where.name is None:
        evidence.note(
            f"which node runs the bootstrapper is not known beforehand ({where.how}): "
            "every --hosts node is measured"
        )
        role = "a node that may run the bootstrapper"
    elif where.is_node(node_facts.hostname):
        role = f"the node that runs the bootstrapper ({where.how})"
    else:
        # Measured on its own node; when that is none of --hosts, the first node's check says so.
        known = [harness.node_facts(spec) for spec in settings.hosts]
        listed = any(where.is_node(facts.hostname) for facts in known)
        if listed or node_facts.spec != settings.hosts[0]:
            pytest.skip(
                f"{node_facts.hostname} ({node_facts.spec}) does not run the bootstrapper: "
                f"{where.how}"
            )
        assert listed, (
            f"the bootstrapper runs on {where.name} ({where.how}), which is none of --hosts "
            f"({', '.join(f'{f.spec}: {f.hostname}' for f in known)}): add {where.name} to "
            "--hosts so its RAM is measured, or point DOCKER_HOST at a node that is"
        )
    evidence.attach("mem_total_gb", round(node_facts.mem_total_gb, 2))
    evidence.attach("mem_available_gb", round(node_facts.mem_available_gb, 2))
    if node_facts.mem_total_gb >= limit > node_facts.mem_available_gb:
        evidence.note(
            f"{node_facts.hostname} has {node_facts.mem_available_gb:.1f} GB of its "
            f"{node_facts.mem_total_gb:.1f} GB available now"
        )
    assert node_facts.mem_total_gb >= limit, (
        f"{node_facts.hostname} ({node_facts.spec}), {role}, has {node_facts.mem_total_gb:.1f} "
        f"GB of RAM, the upgrade needs {limit:g} GB (the system requirements' 16 GB); run the "
        "bootstrapper on a node with more RAM (point DOCKER_HOST at its engine) or add memory"
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
def test_node_engine(
    node_facts: NodeFacts, settings: Settings, request: pytest.FixtureRequest, evidence: CheckRecord
) -> None:
    """The node's Docker engine answers and is at least --min-engine-version, by default the
    engine of the running DTR line's bundle (17.06 for DTR 2.3-2.5, 18.09 for 2.6, ...: the
    bundles of dtr-facts.md 5.1, upgrade.rules.engines)."""
    evidence.attach("node", node_facts)
    assert node_facts.engine_version, (
        f"no Docker engine answered on {node_facts.hostname} (`docker version` failed); "
        "start it, or give the account access to the Docker socket"
    )
    minimum = settings.min_engine_version
    basis = "--min-engine-version"
    if minimum is None:
        running: Version = request.getfixturevalue("current_version")
        entry = engine_minimum(running)
        minimum = entry.engine
        basis = (
            f"the default for DTR {running.major}.{running.minor}, the engine of the "
            f"{entry.bundle} ({entry.tag}, {entry.source}); --min-engine-version overrides it"
        )
    evidence.attach("min_engine_version", minimum)
    evidence.attach("min_engine_basis", basis)
    assert engine_at_least(node_facts.engine_version, minimum), (
        f"{node_facts.hostname} runs Docker engine {node_facts.engine_version}, older than "
        f"{minimum} ({basis}); upgrade the engine first"
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
