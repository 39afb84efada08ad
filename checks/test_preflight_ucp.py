"""Preflight: UCP is healthy, compatible with the target DTR, and does not enforce content trust."""

from __future__ import annotations

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster.target import Target
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
def test_content_trust_off(preflight_content_trust: ContentTrust, evidence: CheckRecord) -> None:
    """UCP does not require signed images ([trust_configuration] require_content_trust):
    the guide makes disabling content trust a precondition, since an enforcing UCP refuses to
    run the unsigned DTR containers the upgrade starts."""
    trust = preflight_content_trust
    evidence.attach("content_trust", trust)
    assert not trust.required, (
        "UCP enforces content trust (require_content_trust = true); disable it in UCP "
        "(Admin Settings > Docker Content Trust, or PUT /api/ucp/config-toml) for the upgrade"
    )
