"""Preflight: the bootstrapper image of every hop and the images it lists can be had before
anything is touched, on every replica's node, and what DTR 2.6's manifest v1 image check will
meet."""

from __future__ import annotations

import pytest

from upgrade.cluster import manifest_v1
from upgrade.cluster.images import BootstrapperImages, BootstrapperNotLocal, ImageLookup
from upgrade.cluster.site import Site
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.harness import Harness
from upgrade.procedure.bootstrapper import accepts_no_image_check
from upgrade.rules.catalog import Catalog
from upgrade.rules.planner import Plan

pytestmark = pytest.mark.preflight


def _assert_found(lookups: list[ImageLookup]) -> None:
    """Fail naming every image that was not where it was looked for, and what answered."""
    __tracebackhide__ = True
    missing = [lookup for lookup in lookups if not lookup.found]
    assert not missing, "; ".join(f"{lookup.problem}" for lookup in missing)


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-IMAGE-AVAILABLE")
def test_bootstrapper_image_available(
    upgrade_plan: Plan, bootstrapper_images: BootstrapperImages, evidence: CheckRecord
) -> None:
    """The bootstrapper image of each hop (`<org>/dtr:<version>`, the repository from the
    catalogue or --dtr-image) is in its registry (asked through the Docker engine, nothing is
    pulled), or with --offline already present on the engine and on every --hosts node (the
    guide: pull the image first; offline nodes need it loaded)."""
    hops = upgrade_plan.path[1:]
    if not hops:
        pytest.skip("no upgrade path: see PRE-VERSION-PATH")
    lookups = [lookup for version in hops for lookup in bootstrapper_images.look_up(version)]
    evidence.attach("images", lookups)
    _assert_found(lookups)


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-MANIFEST-V1")
def test_manifest_v1_images(
    upgrade_plan: Plan, settings: Settings, target: Target, evidence: CheckRecord
) -> None:
    """When the plan runs DTR 2.6's bootstrapper, which checks for manifest v1 images unless
    given --no-image-check (reference/dtr/2.6/cli/upgrade.md), the tags whose manifests are
    schema 1 are named as a warning: what that check does on finding them is not documented, so
    the harness assumes it may stop the upgrade. --no-image-check exists only for 2.6."""
    hops = [version for version in upgrade_plan.path[1:] if accepts_no_image_check(version)]
    evidence.attach("hops_with_the_check", [str(version) for version in hops])
    evidence.attach("no_image_check", settings.no_image_check)
    if not hops:
        assert not settings.no_image_check, (
            "--no-image-check is given, but no hop of this plan runs DTR 2.6's bootstrapper, the "
            "only one with that flag (reference/dtr/2.6/cli/upgrade.md): drop --no-image-check"
        )
        pytest.skip("no hop of this plan runs DTR 2.6's manifest v1 image check")
    found = manifest_v1.survey(target.dtr())
    evidence.attach("schema1_tags", list(found.schema1))
    evidence.attach("tags_read", found.tags)
    evidence.attach("tags_without_media_type", found.untyped)
    evidence.attach(
        "assumption",
        "what DTR 2.6's manifest v1 image check does when it finds schema-1 images is not "
        "documented; the harness assumes it may stop the upgrade",
    )
    if found.untyped:
        evidence.note(
            f"{found.untyped} of {found.tags} tags were listed without a manifest media type; "
            "they may be schema 1 too"
        )
    if not found.schema1:
        return
    if settings.no_image_check:
        evidence.note(
            f"{len(found.schema1)} tag(s) are manifest schema 1 images ({found.shown()}); "
            "--no-image-check is passed to the 2.6 bootstrapper, which then skips its check"
        )
        return
    evidence.note(
        f"{len(found.schema1)} tag(s) are manifest schema 1 images ({found.shown()}); DTR 2.6's "
        "upgrade checks for them and may stop: push them again as schema 2 (docker pull and "
        "docker push with an engine of 1.10 or newer), or run with --no-image-check to skip "
        "the check"
    )


@pytest.mark.needs_target_version
@pytest.mark.check("PRE-COMPONENT-IMAGES")
def test_component_images_on_every_replica_node(
    upgrade_plan: Plan,
    site: Site,
    catalog: Catalog,
    harness: Harness,
    settings: Settings,
    target: Target,
    evidence: CheckRecord,
) -> None:
    """Every image each hop's bootstrapper lists with its `images` command ("all the images
    necessary to install DTR", reference/dtr/2.7/cli/images.md) can be had on every node that
    runs a replica: asked of its registry (nothing is pulled), or with --offline present on the
    node itself (its --hosts entry, or the engine when that is the node), as the guide wants
    "the images on the target nodes if upgrading offline" and launchpad pulls every listed image
    on every MSR host (pull_msr_images.go). A bootstrapper image not on the engine cannot list
    its images without a pull: with --offline that fails, online the check is skipped as not
    proven (each node pulls from the registry when the upgrade runs)."""
    hops = upgrade_plan.path[1:]
    if not hops:
        pytest.skip("no upgrade path: see PRE-VERSION-PATH")
    nodes = {replica.replica_id: replica.node for replica in target.dtr().settings().replicas}
    evidence.attach("replica_nodes", nodes)
    images = site.component_images(
        catalog, lambda: {spec: harness.node_facts(spec).hostname for spec in settings.hosts}
    )
    listed: dict[str, list[str]] = {}
    unlisted: dict[str, str] = {}
    for version in hops:
        try:
            listed[str(version)] = images.listed(version)
        except BootstrapperNotLocal as exc:
            unlisted[str(version)] = str(exc)
    evidence.attach("images", listed)
    evidence.attach("unlisted", unlisted)
    # Offline, the guide wants "the images on the target nodes": unlisted, they are unproven.
    assert not (settings.offline and unlisted), (
        f"with --offline every replica's node needs each image the bootstrapper lists, and the "
        f"images of {', '.join(unlisted)} could not be listed: " + "; ".join(unlisted.values())
    )
    lookups = [
        images.look_up(image, node)
        for names in listed.values()
        for image in names
        for node in sorted(set(nodes.values()))
    ]
    evidence.attach("lookups", lookups)
    _assert_found(lookups)
    if unlisted:
        # Online each node pulls the images from their registry when the upgrade runs, so an
        # unlisted version is no finding; but nothing was proven for it either.
        pytest.skip(
            f"not proven: the images of {', '.join(unlisted)} were not listed, so none was "
            f"looked for on the replicas' nodes: {'; '.join(unlisted.values())}; then run "
            "preflight again"
        )
