"""Post-upgrade: every replica on the target, the cluster healthy again, the interruption
within budget, and every repository, tag and digest of the baseline still there."""

from __future__ import annotations

import pytest

from upgrade.cluster import containers
from upgrade.cluster.baseline import Baseline
from upgrade.cluster.containers import ContainerState
from upgrade.cluster.health import Settled
from upgrade.cluster.inventory import compare, snapshot
from upgrade.cluster.target import Target
from upgrade.cluster.worker_pool import DEFAULT_PROCESSES
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.procedure.outages import ProbeResult
from upgrade.rules.versions import Version

pytestmark = pytest.mark.post

SHOWN = 50


@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-REPLICA-ADDRESSES")
def test_replica_addresses_still_known(target: Target, evidence: CheckRecord) -> None:
    """After the upgrade every replica DTR's replicaSettings list still has an address this
    machine reaches it at (as PRE-REPLICA-ADDRESSES judges it), and a --replica-url naming no
    replica of this DTR fails here too: a --phase=post session runs no preflight check, and
    the replica checks would silently judge the cluster without the replica the operator
    meant to address."""
    found = target.replica_addresses()
    evidence.attach("replica_addresses", {rid: a.as_dict() for rid, a in sorted(found.items())})
    problems = target.address_problems()
    assert not problems, "; ".join(problems)


@pytest.mark.needs_target_version
@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-REPLICA-VERSIONS")
def test_replica_on_target_version(
    target: Target, replica: str, target_version: Version, evidence: CheckRecord
) -> None:
    """The replica reports the target release itself (docs.json info.version, read from the
    replica directly, not through the load balancer). Releases are compared, not strings: a
    real 2.7.0 reports `2.7.0-29094adc` (the 2.7.0 Swagger's info.version; fidelity-review.md
    2), which is release 2.7.0."""
    url = target.replica_urls()[replica]
    version = target.dtr().version(url)
    evidence.attach("url", url)
    evidence.attach("version", version)
    expected = target_version.release
    assert Version.parse(version).release == expected, (
        f"replica {replica} runs {version}, not {expected}; re-run the upgrade to resume it"
    )


@pytest.mark.needs_target_version
@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-REPLICA-CONTAINERS")
def test_replica_containers_on_target_version(
    replica: str,
    replica_containers: list[ContainerState],
    target_version: Version,
    evidence: CheckRecord,
) -> None:
    """Every DTR container of the replica (dtr-<service>-<replica ID>) is running and
    labelled com.docker.dtr.version = the target release, as the Docker engine reports it
    (DOCKER_HOST, e.g. a UCP client bundle). Releases are compared, as POST-REPLICA-VERSIONS
    does: a label `2.7.0-29094adc` is release 2.7.0."""
    expected = target_version.release
    evidence.attach("containers", replica_containers)
    assert replica_containers, (
        f"the engine at DOCKER_HOST shows no DTR container of replica {replica}: point "
        "DOCKER_HOST at the cluster (a UCP client bundle), not at a single other node"
    )
    problems = [
        f"{c.name} is {c.status} with {containers.VERSION_LABEL}={c.version or '(none)'}"
        for c in replica_containers
        if c.status != "running" or not containers.on_release(c.version, expected)
    ]
    assert not problems, (
        f"replica {replica} is not fully on {expected}: {'; '.join(problems)}; re-run the "
        "upgrade to resume it"
    )


@pytest.mark.needs_target_version
@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-REPLICA-SERVICES")
def test_replica_runs_every_service(
    replica: str,
    replica_containers: list[ContainerState],
    target_version: Version,
    evidence: CheckRecord,
) -> None:
    """The replica has a container for every service DTR runs from 2.6 on (api, garant,
    jobrunner, nginx, notary-server, notary-signer, registry, rethinkdb, scanningstore)."""
    expected = containers.expected_services(target_version)
    if not expected:
        pytest.skip(f"DTR {target_version}'s container set is not listed: services not checked")
    if not replica_containers:
        pytest.skip(f"no DTR container of replica {replica} is shown: POST-REPLICA-CONTAINERS")
    missing = containers.missing_services(replica_containers, target_version)
    evidence.attach("services", sorted({c.service for c in replica_containers}))
    evidence.attach("missing", missing)
    assert not missing, (
        f"replica {replica} has no container for "
        f"{', '.join(f'dtr-{s}-{replica}' for s in missing)}; re-run the upgrade to resume it"
    )


@pytest.mark.check("POST-CLUSTER-HEALTH")
def test_cluster_healthy_again(settled: Settled, settings: Settings, evidence: CheckRecord) -> None:
    """Every replica's /_ping is healthy and cluster_status is OK with no critical RethinkDB
    issue and all tables ready, within --settle-timeout of the upgrade's end (the evidence shows
    how long it took); non-critical issues are warnings (fidelity-review.md 13)."""
    evidence.attach("settle_s", round(settled.waited_s, 2))
    evidence.attach("looks", settled.looks)
    evidence.attach("health", settled.report)
    for warning in settled.report.warnings:
        evidence.note(warning)
    assert settled.report.healthy, (
        f"the cluster was not healthy within {settings.settle_timeout.total_seconds():g} s "
        f"(--settle-timeout): {'; '.join(settled.report.problems[:5])}"
    )


@pytest.mark.check("POST-DOWNTIME")
def test_interruption_within_budget(
    availability: ProbeResult | None, settings: Settings, evidence: CheckRecord
) -> None:
    """The longest interruption of the load-balanced endpoint, measured by sampling it every
    --probe-interval during the whole upgrade, is within --downtime-budget (the guide promises
    "at most a few seconds of interruption")."""
    if availability is None:
        pytest.skip("no availability data: this session did not run the upgrade")
    budget = settings.downtime_budget.total_seconds()
    lb = availability.load_balanced()
    worst = max(lb.values(), key=lambda summary: summary.longest_outage_s)
    longest = round(worst.longest_outage_s, 3)
    evidence.attach("interval_s", availability.interval_s)
    evidence.attach("load_balancer", {name: summary.as_dict() for name, summary in lb.items()})
    evidence.attach("longest_outage_s", longest)
    assert longest <= budget, (
        f"the load-balanced endpoint ({worst.name}) was interrupted for "
        f"{longest:.2f} s, over the {budget:g} s budget (--downtime-budget); "
        f"outages: {'; '.join(outage.describe() for outage in worst.outages[:5])}"
    )


@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-DATA-INTACT")
def test_data_intact(target: Target, baseline: Baseline, evidence: CheckRecord) -> None:
    """Every repository, tag and manifest digest of the preflight baseline is still there and
    unchanged (additions are listed but allowed)."""
    current = snapshot(target.dtr(), target.registry(), processes=DEFAULT_PROCESSES)
    diff = compare(baseline.inventory, current)
    evidence.attach(
        "baseline", {"repositories": len(baseline.inventory), "tags": baseline.tag_count}
    )
    evidence.attach("now", {"repositories": len(current), "tags": sum(map(len, current.values()))})
    evidence.attach("missing_repositories", list(diff.missing_repositories[:SHOWN]))
    evidence.attach("missing_tags", list(diff.missing_tags[:SHOWN]))
    evidence.attach("changed_tags", [list(c) for c in diff.changed_tags[:SHOWN]])
    evidence.attach("added_repositories", list(diff.added_repositories[:SHOWN]))
    evidence.attach("added_tags", list(diff.added_tags[:SHOWN]))
    problems = []
    if diff.missing_repositories:
        problems.append(f"repositories missing: {', '.join(diff.missing_repositories[:5])}")
    if diff.missing_tags:
        problems.append(f"tags missing: {', '.join(diff.missing_tags[:5])}")
    if diff.changed_tags:
        problems.append(
            "tags pointing at another digest: "
            + ", ".join(f"{t} ({a} -> {b})" for t, a, b in diff.changed_tags[:3])
        )
    assert not problems, "data changed by the upgrade: " + "; ".join(problems)
