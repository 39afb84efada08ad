"""The fixtures of the change and what follows it: the upgrade run, the settled cluster, what the
prober measured, the replicas' containers, the data-plane proof after the change, and the
post-upgrade follow-ups (migration jobs, the vulnerability database). One line each over the
modules that do the work, like `upgrade.plugin.fixtures` (the fixtures before the change),
registered beside them.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from upgrade.cluster.baseline import Baseline
from upgrade.cluster.containers import ContainerState
from upgrade.cluster.dataproof_record import PostProof
from upgrade.cluster.health import Settled
from upgrade.cluster.job_rules import METADATA_MIGRATION
from upgrade.cluster.jobs import MigrationOutcome
from upgrade.cluster.site import Site
from upgrade.cluster.target import Target
from upgrade.cluster.vulndb import VulnDBOutcome
from upgrade.config.settings import Settings
from upgrade.plugin.fixtures import preflight_proof_key
from upgrade.plugin.harness import Harness
from upgrade.procedure.outages import ProbeResult
from upgrade.procedure.procedure import UpgradeRecord
from upgrade.rules.catalog import Catalog
from upgrade.rules.versions import Version


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


@pytest.fixture(scope="session")
def post_data_proof(
    request: pytest.FixtureRequest,
    harness: Harness,
    settings: Settings,
    baseline: Baseline,
    settled: Settled,
) -> PostProof | None:
    """The same proof after the upgrade, sorted against preflight's (this bundle's, or the one
    beside --baseline with --phase=post); None with --data-proof=off."""
    from upgrade.cluster.dataproof_record import post

    return post(
        harness.target().registry(),
        baseline,
        settings,
        harness.bundle.path,
        harness.say,
        harness.session_record.bundle_problems,
        earlier=request.config.stash.get(preflight_proof_key, None),
    )


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
    # Releases, not builds: a baseline of 2.6.4-1a2b3c4d and a cluster on 2.6.4 crossed no hop.
    crossed = before and before[0].release < current_version.release
    return [(before[0], current_version)] if crossed else []


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
