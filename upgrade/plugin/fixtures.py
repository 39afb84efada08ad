"""The harness's fixtures: one line each over the modules that do the work.

Registered by the plugin at configure, so they exist however the plugin was loaded; each one
refuses with a usage error when the session has no target.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster.backup import BackupReading
from upgrade.cluster.baseline import Baseline
from upgrade.cluster.containers import ContainerState
from upgrade.cluster.dataproof import ProofResult
from upgrade.cluster.dataproof_record import PostProof
from upgrade.cluster.health import Settled
from upgrade.cluster.images import BootstrapperImages
from upgrade.cluster.job_rules import METADATA_MIGRATION
from upgrade.cluster.jobs import MigrationOutcome
from upgrade.cluster.nodes import NodeFacts
from upgrade.cluster.site import Site
from upgrade.cluster.target import Target
from upgrade.cluster.vulndb import VulnDBOutcome
from upgrade.config.settings import Settings
from upgrade.evidence.bundle import Bundle
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.harness import Harness, harness_key, record_key
from upgrade.procedure.backup_run import TakenBackup
from upgrade.procedure.outages import ProbeResult
from upgrade.procedure.procedure import UpgradeRecord
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
    from upgrade.rules.planner import unfinished_upgrade
    from upgrade.rules.versions import Version

    distinct = sorted(set(replica_versions.values()))
    resumed = unfinished_upgrade(distinct, harness.settings.to_version, harness.catalog())
    if resumed is not None:
        harness.session_record.from_version = str(resumed)
        return resumed
    if len(distinct) != 1:
        pytest.skip(
            f"needs one running version; replicas run {', '.join(distinct)} "
            "(see PRE-REPLICA-VERSIONS)"
        )
    version = Version.parse(distinct[0])
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
def baseline(harness: Harness, settings: Settings, target: Target) -> Baseline:
    """The cluster before the change: recorded in preflight, or --baseline for --phase=post."""
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


@pytest.fixture(scope="session")
def preflight_data_proof(
    harness: Harness, settings: Settings, baseline: Baseline
) -> ProofResult | None:
    """The data-plane proof of the baseline's tags before the change; None with --data-proof=off."""
    from upgrade.cluster.dataproof_record import preflight

    return preflight(
        harness.target().registry(), baseline, settings, harness.bundle.path, harness.say
    )


@pytest.fixture(scope="session")
def post_data_proof(
    harness: Harness, settings: Settings, baseline: Baseline, settled: Settled
) -> PostProof | None:
    """The same proof after the upgrade, sorted against preflight's (this bundle's, or the one
    beside --baseline with --phase=post); None with --data-proof=off."""
    from upgrade.cluster.dataproof_record import post

    return post(harness.target().registry(), baseline, settings, harness.bundle.path, harness.say)


@pytest.fixture(scope="session")
def upgrade_run(
    harness: Harness, settings: Settings, current_version: Version
) -> UpgradeRecord | None:
    """The upgrade of this session: runs once, after a passed gate, for the upgrade and post
    checks. None with --phase=post: nothing runs and the post checks verify what is there."""
    if settings.mode == "verify":
        return None
    if settings.mode != "upgrade":
        pytest.skip("no upgrade in this session (--apply not given)")
    return harness.run_upgrade(current_version)


@pytest.fixture(scope="session")
def settled(
    harness: Harness, settings: Settings, target: Target, upgrade_run: UpgradeRecord | None
) -> Settled:
    """The cluster after the upgrade, polled until healthy or --settle-timeout; availability
    sampling stops here, once post-upgrade health is reached."""
    from upgrade.cluster.health import wait_healthy

    result = wait_healthy(target, settings.settle_timeout.total_seconds())
    harness.stop_prober()
    return result


@pytest.fixture(scope="session")
def availability(harness: Harness, settled: Settled) -> ProbeResult | None:
    """What the prober measured of every endpoint during this session's upgrade (sampling
    stopped once the cluster settled); None when this session did not run the upgrade."""
    return harness.session_record.availability


@pytest.fixture
def replica_containers(replica: str, site: Site) -> list[ContainerState]:
    """The replica's DTR containers as the Docker engine (DOCKER_HOST) reports them; skipped
    where there is no engine to ask (the process lab, no DOCKER_HOST)."""
    from upgrade.cluster import containers

    if not site.has_engine:
        pytest.skip("the lab has no Docker engine: container labels were not checked")
    if not containers.engine_configured():
        pytest.skip("no Docker engine configured (DOCKER_HOST): container labels were not checked")
    return containers.replica_containers(replica)


# -- post-upgrade follow-ups ------------------------------------------------------------------


@pytest.fixture(scope="session")
def upgrade_began(request: pytest.FixtureRequest, upgrade_run: UpgradeRecord | None) -> datetime:
    """When the upgrade began, for "since the upgrade" comparisons: this session's upgrade
    start, or with --phase=post the moment the --baseline was taken (skipped without one)."""
    if upgrade_run is not None and upgrade_run.started_at is not None:
        return upgrade_run.started_at
    baseline: Baseline = request.getfixturevalue("baseline")
    return baseline.taken_at


@pytest.fixture(scope="session")
def upgrade_hops(
    request: pytest.FixtureRequest, upgrade_run: UpgradeRecord | None, current_version: Version
) -> list[tuple[Version, Version]]:
    """The hops the upgrade crossed: this session's plan, or with --phase=post from the
    --baseline's oldest replica version to the running one (skipped without a baseline)."""
    from upgrade.rules.versions import Version

    if upgrade_run is not None:
        return [
            (Version.parse(h.from_version), Version.parse(h.to_version)) for h in upgrade_run.hops
        ]
    baseline: Baseline = request.getfixturevalue("baseline")
    before = sorted(Version.parse(v) for v in baseline.replica_versions.values())
    return [(before[0], current_version)] if before and before[0] < current_version else []


@pytest.fixture(scope="session")
def migrations(
    settings: Settings,
    target: Target,
    catalog: Catalog,
    upgrade_hops: list[tuple[Version, Version]],
    upgrade_began: datetime,
    upgrade_run: UpgradeRecord | None,
    settled: Settled,
) -> list[MigrationOutcome]:
    """The catalogue's migration jobs of every hop crossed, each followed to its end within
    --migration-timeout (re-triggered once with --retrigger-migrations)."""
    from upgrade.cluster.jobs import curl_submit_job, follow_migration, metadata_store_migrated

    dtr = target.dtr()

    def shown_done() -> str | None:
        return metadata_store_migrated(dtr)

    outcomes = []
    for source, dest in upgrade_hops:
        for migration in catalog.migrations(source, dest):
            request = curl_submit_job(
                target.dtr_url,
                migration.job,
                target.dtr_credentials.secret_variable,
                target.endpoints.dtr_ca,
            )
            outcomes.append(
                follow_migration(
                    dtr,
                    migration.job,
                    f"{migration.from_line} -> {migration.to_line}",
                    upgrade_began,
                    settings.migration_timeout.total_seconds(),
                    request=request,
                    retrigger=settings.retrigger_migrations,
                    expected_attempts=migration.attempts,
                    # Only metadatastoremigration has an outcome flag (features), asked before
                    # any wait: a store migrated on 2.5 needs no job (fidelity-review.md 7).
                    done_without_job=shown_done if migration.job == METADATA_MIGRATION else None,
                    slack=settings.max_clock_skew,
                )
            )
    return outcomes


@pytest.fixture(scope="session")
def vuln_db(
    settings: Settings,
    target: Target,
    catalog: Catalog,
    upgrade_run: UpgradeRecord | None,
    upgrade_began: datetime,
    settled: Settled,
) -> VulnDBOutcome | None:
    """The vulnerability database after the update --update-vuln-db asks for (followed within
    --vuln-db-timeout); None when scanning is disabled."""
    from upgrade.cluster import vulndb

    dtr = target.dtr()
    dtr_settings = dtr.settings()
    if not dtr_settings.scanning_enabled:
        return None
    plan = vulndb.choose(
        settings.update_vuln_db,
        settings.vuln_db_file,
        ran_upgrade=upgrade_run is not None and upgrade_run.state == "passed",
        sync_online=dtr_settings.scanning_sync_online,
    )
    rule = catalog.bootstrapper_rule(settings.to_version) if settings.to_version else None
    fix = vulndb.fix_for(
        plan,
        target.dtr_url,
        target.dtr_credentials.secret_variable,
        target.endpoints.dtr_ca,
        source=vulndb.online_source(rule.repository if rule else None),
    )
    return vulndb.update_and_verify(
        dtr,
        plan,
        upgrade_began,
        settings.vuln_db_timeout.total_seconds(),
        fix=fix,
        slack=settings.max_clock_skew,
    )
