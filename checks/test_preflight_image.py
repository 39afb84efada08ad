"""Preflight: the bootstrapper image of every hop can be had before anything is touched."""

from __future__ import annotations

import pytest

from upgrade.cluster.images import BootstrapperImages, ImageLookup
from upgrade.evidence.records import CheckRecord
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
