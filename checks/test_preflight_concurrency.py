"""Preflight: no other upgrade of this DTR is running, from this machine or any other."""

from __future__ import annotations

import pytest

from upgrade.cluster import containers
from upgrade.cluster.site import Site
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.errors import HarnessError
from upgrade.evidence.records import CheckRecord
from upgrade.procedure.bootstrapper import DockerEngineUnreachable
from upgrade.rules.catalog import Catalog

pytestmark = pytest.mark.preflight

MIXED_VERSIONS = "mixed replica versions (an unfinished upgrade) are PRE-REPLICA-VERSIONS' finding"


def _repositories(settings: Settings, catalog: Catalog) -> list[str]:
    """The bootstrapper repositories to look for: the product's, --dtr-image and the
    catalogue's repository for the target version."""
    found = [*containers.BOOTSTRAPPER_REPOSITORIES]
    if settings.dtr_image:
        found.append(settings.dtr_image)
    if settings.to_version is not None:
        rule = catalog.bootstrapper_rule(settings.to_version)
        if rule is not None and rule.repository not in found:
            found.append(rule.repository)
    return found


@pytest.mark.check("PRE-NO-UPGRADE-RUNNING")
def test_no_upgrade_running(
    target: Target, site: Site, settings: Settings, catalog: Catalog, evidence: CheckRecord
) -> None:
    """No bootstrapper container (an image of docker/dtr, mirantis/dtr, registry.mirantis.com/
    msr/dtr, a mirror of them, or --dtr-image) is running `upgrade` for this cluster's UCP on
    the Docker engine (DOCKER_HOST; through a UCP client bundle it shows every node): another
    session, from this machine or another, is upgrading the cluster, and two upgrades must never
    run at once. Mixed replica versions are PRE-REPLICA-VERSIONS' finding, not this check's.
    Skipped when no engine is reachable, since nothing could then be looked at."""
    evidence.attach("mixed_replica_versions", "judged by PRE-REPLICA-VERSIONS, not here")
    if not site.has_engine:
        pytest.skip(
            "the lab has no Docker engine (its bootstrapper is a process, which the upgrade "
            "lock of this machine covers): no running bootstrapper container was looked for"
        )
    repositories = _repositories(settings, catalog)
    evidence.attach("repositories", repositories)
    host = containers.engine_host()
    evidence.attach("engine", host)
    try:
        scan = containers.running_bootstrappers(repositories)
    except DockerEngineUnreachable as exc:
        evidence.attach("engine_error", str(exc))
        pytest.skip(
            f"no Docker engine answers at {host}: no running bootstrapper container was looked "
            "for, so an upgrade started from another machine would not be seen (point "
            f"DOCKER_HOST at the cluster, e.g. with a UCP client bundle, to check); "
            f"{MIXED_VERSIONS}"
        )
    evidence.attach("engine_version", scan.version)
    evidence.attach("bootstrappers", list(scan.bootstrappers))
    if not scan.shows_every_node:
        evidence.note(
            f"the engine at {host} ({scan.version or 'version unknown'}) is not UCP, so only "
            "its own containers were seen; a bootstrapper started through another node's "
            "engine is not visible (point DOCKER_HOST at UCP with a client bundle to see all)"
        )
    try:
        ucp_url: str | None = target.ucp_url()
    except HarnessError as exc:
        ucp_url = None
        evidence.note(f"this cluster's UCP is unknown ({exc}): every bootstrapper counts")
    evidence.attach("ucp_url", ucp_url)
    for other in scan.bootstrappers:
        if not other.upgrading:
            evidence.note(f"a bootstrapper runs `{other.command}`: {other.describe()}")
        elif not other.works_on(ucp_url):
            evidence.note(f"a bootstrapper upgrades another cluster: {other.describe()}")
    running = [b for b in scan.upgrading if b.works_on(ucp_url)]
    assert not running, (
        "another upgrade of this cluster is running: "
        + "; ".join(b.describe() for b in running)
        + "; wait for it to finish (`docker logs -f ID`) or stop it (`docker stop ID`), then "
        "run preflight again"
    )
