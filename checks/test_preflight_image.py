"""Preflight: the bootstrapper image of every hop can be had before anything is touched."""

from __future__ import annotations

import pytest

from upgrade.cluster.images import bootstrapper_image, in_registry, on_engine, on_host
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.harness import Harness
from upgrade.rules.catalog import Catalog
from upgrade.rules.planner import plan
from upgrade.rules.versions import Version

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-IMAGE-AVAILABLE")
def test_bootstrapper_image_available(
    harness: Harness,
    settings: Settings,
    catalog: Catalog,
    current_version: Version,
    evidence: CheckRecord,
) -> None:
    """The bootstrapper image of each hop (`<org>/dtr:<version>`, the repository from the
    catalogue or --dtr-image) is in its registry (asked through the Docker engine, nothing is
    pulled), or with --offline already present on the engine and on every --hosts node (the
    guide: pull the image first; offline nodes need it loaded)."""
    if settings.to_version is None:
        pytest.skip("no --to-version: no image is needed")
    hops = plan(current_version, settings.to_version, catalog).path[1:]
    if not hops:
        pytest.skip("no upgrade path: see PRE-VERSION-PATH")
    found = []
    for version in hops:
        engine_lab = harness.lab is not None and settings.lab.engine == "docker"
        if harness.lab is not None and not engine_lab:
            assert harness.lab_knows(version), (
                f"the lab has no bootstrapper for {version}; pick a version the lab knows"
            )
            found.append({"image": f"dtrlab/dtr:{version}", "where": "lab"})
            continue
        image = (
            harness.lab.bootstrapper_image(str(version))
            if engine_lab
            else bootstrapper_image(version, catalog, settings.dtr_image)
        )
        if settings.offline:
            found.append(on_engine(image))
            found.extend(on_host(spec, image) for spec in settings.hosts)
        else:
            found.append(in_registry(image))
    evidence.attach("images", found)
