"""Preflight: UCP is healthy, compatible with the target DTR, lets the upgrade's images run
despite content trust, and lets administrators schedule on the nodes the bootstrapper uses."""

from __future__ import annotations

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster import trust as content_trust
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.rules.catalog import Catalog
from upgrade.rules.versions import Version

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-UCP-HEALTH")
def test_ucp_healthy(target: Target, evidence: CheckRecord) -> None:
    """UCP answers /_ping with 200: the bootstrapper finds the replicas through UCP, so the
    upgrade cannot run while UCP is down."""
    ping = target.ucp().ping()
    evidence.attach("ucp_url", target.ucp_url())
    evidence.attach("ping", ping)
    assert ping.healthy, (
        f"UCP at {target.ucp_url()} is not healthy (/_ping answered {ping.status}"
        f"{': ' + ping.error if ping.error else ''}); repair UCP before upgrading DTR"
    )


@pytest.mark.check("PRE-UCP-COMPAT")
def test_ucp_compatible(
    target: Target, catalog: Catalog, dtr_version_for_compat: Version, evidence: CheckRecord
) -> None:
    """The UCP version is supported by the DTR version being upgraded to (the guide: "the
    version of UCP you are using is supported by the version of DTR you are trying to upgrade
    to"), per the release catalogue's pairings."""
    ucp_version = Version.parse(target.ucp().version())
    compat = catalog.ucp_compatibility(dtr_version_for_compat, ucp_version)
    evidence.attach("ucp_version", str(ucp_version))
    evidence.attach("dtr_version", str(dtr_version_for_compat))
    evidence.attach("compatibility", compat)
    if compat.compatible is None:
        evidence.note(f"pairing not in the catalogue: {compat.reason}")
    elif not compat.confirmed:
        evidence.note(f"pairing inferred, not confirmed: {compat.reason}")
    assert compat.compatible is not False, (
        f"UCP {ucp_version} is not compatible with DTR {dtr_version_for_compat}: {compat.reason}"
    )


@pytest.mark.check("PRE-CONTENT-TRUST")
def test_content_trust_off(
    preflight_content_trust: ContentTrust,
    upgrade_images: tuple[str, ...],
    settings: Settings,
    evidence: CheckRecord,
) -> None:
    """UCP does not require signed images ([trust_configuration] require_content_trust), or
    lets the upgrade's bootstrapper images bypass the check (allow_repos, how sites upgrade
    with trust on): the guide makes disabling content trust a precondition, since an enforcing
    UCP refuses to run the unsigned DTR containers the upgrade starts. The engines' own
    content-trust mode (daemon.json, on the --hosts nodes) is recorded as evidence."""
    trust = preflight_content_trust
    evidence.attach("content_trust", trust)
    engines = content_trust.engines_trust(settings.hosts)
    if engines:
        evidence.attach("engine_content_trust", [e.as_dict() for e in engines])
    for engine in engines:
        if engine.enforced:
            evidence.note(
                f"the engine on {engine.host} enforces content trust (daemon.json content-trust "
                "mode = enforced): it pulls and runs only signed images it trusts, so the DTR "
                "images must be signed by a pinned key there"
            )
        elif engine.problem:
            evidence.note(f"engine content trust on {engine.host} not known: {engine.problem}")
    judgement = content_trust.judge(trust, upgrade_images)
    evidence.attach("images", judgement)
    if trust.required and upgrade_images and not judgement.blocked:
        evidence.note(
            "UCP enforces content trust, and allow_repos lets the upgrade's bootstrapper "
            f"({', '.join(upgrade_images)}) bypass it"
        )
        for image in upgrade_images:
            if not content_trust.components_listed(trust, image):
                evidence.note(
                    f"allow_repos lists no component repository beside "
                    f"{content_trust.repository(image)} (dtr-api, dtr-registry, ...): the "
                    "bootstrapper starts those images too; list every image that "
                    f"`docker run --rm {image} images` prints"
                )
        return
    blocked = judgement.blocked or upgrade_images
    named = (
        f": allow_repos does not list {', '.join(content_trust.repository(i) for i in blocked)}"
        if blocked
        else ""
    )
    assert not trust.required, (
        f"UCP enforces content trust (require_content_trust = true){named}; disable it in UCP "
        "(Admin Settings > Docker Content Trust, or PUT /api/ucp/config-toml) for the upgrade, "
        "or add the DTR images' repositories to [trust_configuration] allow_repos"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-UCP-SCHEDULING")
def test_admins_may_schedule(target: Target, evidence: CheckRecord) -> None:
    """UCP lets administrators deploy containers on managers and on the nodes running DTR
    ([scheduling_configuration] enable_admin_ucp_scheduling, default false): the bootstrapper
    starts its containers on the DTR nodes through UCP, and without the setting fails with
    "could not find any nodes on which the container could be created" (Mirantis containers
    v3.0 "Install MSR", MKE Configuration)."""
    scheduling = target.ucp().admin_scheduling()
    evidence.attach("admin_scheduling", scheduling)
    absent = "" if scheduling.configured else " (absent: the documented default is false)"
    assert scheduling.enabled, (
        f"UCP does not let administrators schedule on managers or DTR nodes "
        f"([scheduling_configuration] enable_admin_ucp_scheduling = false{absent}), so the "
        "bootstrapper's containers would find no node; tick 'Allow administrators to deploy "
        "containers on UCP managers or nodes running DTR' (Admin Settings > Scheduler), or set "
        "enable_admin_ucp_scheduling = true in config-toml, for the upgrade"
    )
