"""Preflight: every replica runs one version, and the upgrade path to the target is allowed."""

from __future__ import annotations

import pytest

from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.rules.catalog import Catalog
from upgrade.rules.hops import blocking_hops, hop_ucp
from upgrade.rules.planner import Plan, unfinished_upgrade
from upgrade.rules.versions import Version

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-REPLICA-VERSIONS")
def test_replicas_on_one_version(
    replica_versions: dict[str, str], settings: Settings, catalog: Catalog, evidence: CheckRecord
) -> None:
    """Every replica reports the same DTR release (docs.json info.version, read from each
    replica directly; a build suffix such as 2.7.0-29094adc is release 2.7.0, fidelity-review.md
    2), or the replicas are an unfinished upgrade to --to-version that this session resumes
    (the guide: re-run the upgrade command). Other mixed versions mean an earlier upgrade did
    not finish."""
    evidence.attach("replica_versions", replica_versions)
    if not replica_versions:  # replicaSettings may be empty or null (the 2.6/2.7 contract)
        pytest.skip(
            "DTR reports no replicas, so there is no version to compare: "
            "PRE-REPLICA-COUNT's finding"
        )
    releases = {rid: Version.parse(v).release for rid, v in replica_versions.items()}
    distinct = sorted({str(release) for release in releases.values()})
    resumed = unfinished_upgrade(distinct, settings.to_version, catalog)
    if resumed is not None:
        to_release = settings.to_version.release if settings.to_version else None
        behind = sorted(r for r, release in releases.items() if release != to_release)
        evidence.note(
            f"an upgrade from {resumed} to {settings.to_version} is unfinished (replicas "
            f"{', '.join(behind)} still on {resumed}): this session resumes it"
        )
        return
    assert len(distinct) == 1, (
        f"replicas run different versions ({', '.join(distinct)}): an earlier upgrade is "
        "unfinished; pass --to-version with the version it was going to, and --apply, to "
        "resume it"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-VERSION-PATH")
def test_version_path_allowed(
    current_version: Version, settings: Settings, upgrade_plan: Plan, evidence: CheckRecord
) -> None:
    """The upgrade from the running version to --to-version follows the guide's rules: patch
    upgrades may skip patches, minor upgrades go up exactly one minor (any patch to any patch),
    major upgrades only to x+1.0, never down. A refusal shows the recommended stops; it can
    never be waived. With --allow-multi-hop a path of allowed hops is accepted and each hop
    is run in turn."""
    result = upgrade_plan
    evidence.attach("evaluation", result.evaluation)
    evidence.attach("path", [str(v) for v in result.path])
    evidence.attach("migrations", result.migrations)
    evidence.attach("image", result.image)
    for warning in result.evaluation.warnings:
        evidence.note(warning)
    stops = " -> ".join(str(v) for v in result.path)
    multi_hop = len(result.path) > 2
    if multi_hop and settings.allow_multi_hop and not result.evaluation.allowed:
        # Every hop of a plan is itself allowed by the rules; the session runs them in order.
        evidence.note(f"runs {len(result.path) - 1} hops (--allow-multi-hop): {stops}")
        return
    hint = (
        f"; upgrade in steps: {stops} (one session per hop, or --allow-multi-hop)"
        if multi_hop
        else ""
    )
    assert result.evaluation.allowed, (
        f"{current_version} -> {settings.to_version} is refused "
        f"({result.evaluation.kind}): {result.evaluation.reason}{hint}"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-UCP-HOPS")
def test_ucp_fits_every_hop(
    target: Target, settings: Settings, upgrade_plan: Plan, catalog: Catalog, evidence: CheckRecord
) -> None:
    """Every hop of a multi-hop plan lands DTR on a version the running UCP is paired with (the
    guide's precondition holds for each hop's target, fidelity-review.md 11): the harness does
    not upgrade UCP, so a hop that needs another UCP cannot run in this session."""
    if len(upgrade_plan.hops) < 2:
        pytest.skip("not a multi-hop plan: PRE-UCP-COMPAT judges UCP against the target")
    ucp = Version.parse(target.ucp().version())
    hops = hop_ucp(upgrade_plan, ucp, catalog)
    evidence.attach("ucp_version", str(ucp))
    evidence.attach("hops", [hop.describe(ucp) for hop in hops])
    if not settings.allow_multi_hop:
        pytest.skip(
            "no --allow-multi-hop: each hop runs in its own session, whose PRE-UCP-COMPAT checks "
            f"UCP; {'; '.join(hop.describe(ucp) for hop in hops)}"
        )
    blocking = blocking_hops(hops)
    assert not blocking, (
        f"UCP {ucp} does not fit every hop of {' -> '.join(map(str, upgrade_plan.path))}, and "
        f"the harness does not upgrade UCP between hops: "
        f"{'; '.join(hop.describe(ucp) for hop in blocking)}"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-UPGRADE-ENABLED")
def test_upgrades_not_disabled(target: Target, evidence: CheckRecord) -> None:
    """DTR's disableUpgrades setting, recorded and never blocking: its meaning is not
    documented (the 2.6/2.7 Swagger types `responses.Settings.disableUpgrades` only as a
    boolean, no document, issue or client says the bootstrapper refuses a cluster with it
    set, fidelity-review.md 3), and its name suggests the UI's upgrade notifications that
    air-gapped sites turn off. Set, it is a warning that says so; the check fails only on a
    value that is not the contract's boolean."""
    raw = target.dtr().settings().raw.get("disableUpgrades", False)
    evidence.attach("disableUpgrades", raw)
    if raw is True:
        evidence.note(
            "DTR's settings have disableUpgrades = true; its meaning is undocumented (the API "
            "contract gives only a boolean) and nothing says the bootstrapper refuses on it, so "
            "the upgrade is not blocked; if the upgrade is refused, clear it in DTR's settings"
        )
    assert raw is None or isinstance(raw, bool), (
        f"DTR's settings answer disableUpgrades = {raw!r}, which the API contract types as a "
        "boolean: check that --target is DTR itself, not a proxy that rewrites its answers"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-REGISTRY-WRITABLE")
def test_registry_not_read_only(target: Target, evidence: CheckRecord) -> None:
    """The registry is not in read-only mode (readOnlyRegistry): something put it there (a
    garbage collection or a manual ro_registry job) that the upgrade must not cut."""
    read_only = target.dtr().settings().read_only_registry
    evidence.attach("readOnlyRegistry", read_only)
    assert not read_only, (
        "DTR is in read-only mode (readOnlyRegistry); find out why (a GC or a manual "
        "ro_registry job) and end it before the upgrade"
    )
