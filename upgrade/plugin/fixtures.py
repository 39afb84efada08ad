"""The harness's fixtures up to the change: one line each over the modules that do the work
(the settings, the target and its versions, the plan, the backup, the bootstrapper images,
content trust, the nodes, the baseline and the data-plane proof before the change). Those of
the change and after it are `upgrade.plugin.upgrade_fixtures`.

Registered by the plugin at configure, so they exist however the plugin was loaded; each one
refuses with a usage error when the session has no target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster.backup import BackupReading
from upgrade.cluster.baseline import Baseline
from upgrade.cluster.dataproof import ProofResult
from upgrade.cluster.images import BootstrapperImages
from upgrade.cluster.nodes import NodeFacts
from upgrade.cluster.site import Site
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.bundle import Bundle
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.collection import record_key
from upgrade.plugin.harness import Harness, harness_key
from upgrade.procedure.backup_run import TakenBackup
from upgrade.rules.catalog import Catalog
from upgrade.rules.planner import Plan
from upgrade.rules.versions import Version


def _harness(request: pytest.FixtureRequest) -> Harness:
    harness = request.config.stash.get(harness_key, None)
    if harness is None:
        raise pytest.UsageError("the harness fixtures need --target=HOST or --target=lab")
    return harness


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """The session's resolved settings."""
    return _harness(request).settings


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> CheckRecord:
    """The current check's evidence record: `attach(name, value)` and `note(text)`."""
    node: pytest.Item = request.node
    record = node.stash.get(record_key, None)
    if record is None:
        raise pytest.UsageError(f"{node.nodeid} is not a harness check")
    return record


@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> Harness:
    """The session's harness run state."""
    return _harness(request)


@pytest.fixture(scope="session")
def say(harness: Harness) -> Callable[[str], None]:
    """Write one line to the terminal now, even while the check's output is captured."""
    return harness.say


@pytest.fixture(scope="session")
def bundle(harness: Harness) -> Bundle:
    """The session's evidence bundle (its folder while the session runs)."""
    return harness.bundle


@pytest.fixture(scope="session")
def catalog(harness: Harness) -> Catalog:
    """The release catalogue (shipped, extended by --catalog)."""
    return harness.catalog()


@pytest.fixture(scope="session")
def target(harness: Harness) -> Target:
    """The DTR cluster under test (the lab when --target=lab)."""
    return harness.target()


@pytest.fixture(scope="session")
def site(harness: Harness) -> Site:
    """Where the session runs, a real DTR or the built-in lab: what differs between them
    (bootstrapper images and executors, the backup, the Docker engine) is asked of it."""
    return harness.site


@pytest.fixture(scope="session")
def replica_versions(target: Target) -> dict[str, str]:
    """Each replica's DTR version, read from the replica itself (docs.json info.version)."""
    dtr = target.dtr()
    return {rid: dtr.version(url) for rid, url in sorted(target.replica_urls().items())}


@pytest.fixture(scope="session")
def current_version(harness: Harness, replica_versions: dict[str, str]) -> Version:
    """The one DTR version the cluster runs; with an unfinished upgrade to --to-version (the
    replicas on its old and new versions) the old one, which this session resumes from; a
    skip when replicas disagree otherwise."""
    from upgrade.rules.planner import one_release, unfinished_upgrade

    distinct = sorted(set(replica_versions.values()))
    resumed = unfinished_upgrade(distinct, harness.settings.to_version, harness.catalog())
    if resumed is not None:
        harness.session_record.from_version = str(resumed)
        return resumed
    version = one_release(distinct)
    if version is None:
        running = f"replicas run {', '.join(distinct)}" if distinct else "DTR reports no replicas"
        pytest.skip(f"needs one running version; {running} (see PRE-REPLICA-VERSIONS)")
    harness.session_record.from_version = str(version)
    return version


@pytest.fixture(scope="session")
def target_version(settings: Settings) -> Version:
    """--to-version, for the checks marked `needs_target_version` (only they may ask)."""
    if settings.to_version is None:
        raise pytest.UsageError("a check that needs --to-version asked for it in a health session")
    return settings.to_version


@pytest.fixture(scope="session")
def dtr_version_for_compat(settings: Settings, current_version: Version) -> Version:
    """The DTR version UCP must support: the target when upgrading, else the running one."""
    return settings.to_version or current_version


@pytest.fixture(scope="session")
def upgrade_plan(harness: Harness, settings: Settings, current_version: Version) -> Plan:
    """The plan from the running version to --to-version: its hops, migrations and the
    bootstrapper image (the report shows it as planned when no upgrade runs)."""
    if settings.to_version is None:
        pytest.skip("no --to-version: health check only")
    return harness.plan(current_version)


@pytest.fixture(scope="session")
def backup_taken(
    harness: Harness, settings: Settings, current_version: Version
) -> TakenBackup | None:
    """--backup=take[:PATH]: the backup this session takes with the running version's
    bootstrapper, before PRE-BACKUP judges it (None: not asked for)."""
    if not settings.take_backup:
        return None
    from upgrade.procedure.backup_session import take_for_session

    return take_for_session(
        harness.site,
        harness.target(),
        settings,
        harness.catalog(),
        current_version,
        harness.bundle.path,
        harness.say,
        harness.session_record.bundle_problems,
    )


@pytest.fixture(scope="session")
def backup_file(
    harness: Harness, settings: Settings, backup_taken: TakenBackup | None
) -> Path | None:
    """The backup to check: the one taken (None when taking it failed), else as the site has
    it: --backup, else (lab) the one the lab's scenario provides, which needs the lab started."""
    if settings.take_backup:
        return backup_taken.path if backup_taken is not None else None
    if settings.backup is None:
        harness.target()
    return harness.site.backup()


@pytest.fixture(scope="session")
def backup_reading(backup_file: Path | None) -> BackupReading | None:
    """The backup file stat'ed and read whole once (None when no backup is given)."""
    from upgrade.cluster import backup

    return None if backup_file is None else backup.read(backup_file)


@pytest.fixture(scope="session")
def bootstrapper_images(site: Site, catalog: Catalog, target: Target) -> BootstrapperImages:
    """Where each hop's bootstrapper image is looked for, as the site has it: the lab's own, or
    the catalogue's (or --dtr-image's) repository through the Docker engine."""
    return site.bootstrapper_images(catalog)


@pytest.fixture(scope="session")
def upgrade_images(
    request: pytest.FixtureRequest, settings: Settings, site: Site, catalog: Catalog
) -> tuple[str, ...]:
    """The bootstrapper image of every hop of the plan, as the site names it (none without
    --to-version or without an upgrade path)."""
    if settings.to_version is None:
        return ()
    plan: Plan = request.getfixturevalue("upgrade_plan")
    return tuple(site.bootstrapper_image(version, catalog) for version in plan.path[1:])


@pytest.fixture(scope="session")
def preflight_content_trust(target: Target) -> ContentTrust:
    """UCP's content trust as preflight reads it (PRE-CONTENT-TRUST), once per session."""
    return target.ucp().content_trust()


@pytest.fixture(scope="session")
def content_trust_before(request: pytest.FixtureRequest, settings: Settings) -> ContentTrust | None:
    """UCP's content trust before the change, as preflight read it; None when this session has
    no preflight (--phase=post)."""
    if settings.mode == "verify":
        return None
    trust: ContentTrust = request.getfixturevalue("preflight_content_trust")
    return trust


@pytest.fixture
def node_index(node_spec: str, settings: Settings) -> int:
    """Position of the node in --hosts (the first runs the upgrade)."""
    return settings.hosts.index(node_spec) if node_spec else -1


@pytest.fixture
def node_facts(harness: Harness, node_spec: str) -> NodeFacts:
    """Memory, disk, engine and clock of one --hosts node (testinfra)."""
    if not node_spec:
        pytest.skip("no --hosts given: node resources were not checked")
    return harness.node_facts(node_spec)


@pytest.fixture(scope="session")
def baseline(settings: Settings, target: Target, baseline_as_given: Baseline) -> Baseline:
    """The cluster before the change, for the checks that compare against it: with
    --phase=post a --baseline of another cluster is refused (POST-BASELINE-MATCH says why)."""
    from upgrade.cluster import baseline as baselines

    if settings.mode == "verify" and settings.baseline is not None:
        problem = baselines.other_cluster(
            baseline_as_given, settings.baseline, target.dtr_url, target.replica_urls()
        )
        if problem:
            raise baselines.BaselineError(problem)
    return baseline_as_given


@pytest.fixture(scope="session")
def baseline_as_given(harness: Harness, settings: Settings, target: Target) -> Baseline:
    """The cluster before the change as this session has it: recorded in preflight, or read
    from --baseline for --phase=post (of whichever cluster it was taken from)."""
    from upgrade.cluster import baseline as baselines

    if settings.mode == "verify":
        if settings.baseline is None:
            pytest.skip("no --baseline given: pass baseline.json of the preflight bundle")
        return baselines.load(settings.baseline)
    versions = {
        rid: target.dtr().version(url) for rid, url in sorted(target.replica_urls().items())
    }
    recorded = baselines.record(target, versions)
    recorded.save(harness.bundle.file("baseline.json"))
    return recorded


# Preflight's proof, kept for post's in the same session (its file may not have been written).
preflight_proof_key = pytest.StashKey["ProofResult | None"]()


@pytest.fixture(scope="session")
def preflight_data_proof(
    request: pytest.FixtureRequest, harness: Harness, settings: Settings, baseline: Baseline
) -> ProofResult | None:
    """The data-plane proof of the baseline's tags before the change; None with --data-proof=off.
    A write failure of its file is a bundle problem, not the check's failure."""
    from upgrade.cluster.dataproof_record import preflight

    result = preflight(
        harness.target().registry(),
        baseline,
        settings,
        harness.bundle.path,
        harness.say,
        harness.session_record.bundle_problems,
    )
    request.config.stash[preflight_proof_key] = result
    return result
