"""UCP/MKE compatibility of every hop of a multi-hop plan (fidelity-review.md 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from upgrade.rules.catalog import Catalog
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.hops import blocking_hops, hop_ucp
from upgrade.rules.planner import plan
from upgrade.rules.versions import Version


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def test_every_hop_names_the_ucp_its_target_is_paired_with(shipped: Catalog) -> None:
    hops = hop_ucp(plan("2.4.12", "2.6.4", shipped), Version.parse("3.1.6"), shipped)
    assert [(str(h.start), str(h.stop), h.needs, h.last) for h in hops] == [
        ("2.4.12", "2.5.11", "UCP 3.0", False),
        ("2.5.11", "2.6.4", "UCP 3.1", True),
    ]


def test_a_ucp_too_old_for_a_hop_blocks_and_says_to_upgrade_ucp_first(shipped: Catalog) -> None:
    ucp = Version.parse("2.2.17")
    hops = hop_ucp(plan("2.4.12", "2.6.4", shipped), ucp, shipped)
    blocking = blocking_hops(hops)
    assert [h.number for h in blocking] == [1, 2]
    assert blocking[0].describe(ucp) == (
        "hop 1 (2.4.12 -> 2.5.11) needs UCP 3.0 and UCP runs 2.2.17: upgrade it to UCP 3.0 first"
    )
    assert "(after the hops up to 2.5.11: a session with --to-version=2.5.11)" in blocking[
        1
    ].describe(ucp)


def test_a_stop_the_ucp_is_not_paired_with_blocks_the_last_hop_does_not(
    shipped: Catalog,
) -> None:
    """UCP 3.1.6 fits the target 2.6.4 but not the stop 2.5.11 (paired with UCP 3.0 only): the
    sources are silent, so the stop blocks; the last hop is judged as PRE-UCP-COMPAT does."""
    ucp = Version.parse("3.1.6")
    (first,) = blocking_hops(hop_ucp(plan("2.4.12", "2.6.4", shipped), ucp, shipped))
    assert first.number == 1
    assert first.compatibility.compatible is None
    assert "--catalog FILE" in first.describe(ucp)
    newer = Version.parse("3.2.6")
    last = hop_ucp(plan("2.5.11", "2.6.4", shipped), newer, shipped)
    assert [h.blocks for h in last] == [False]


def test_overlapping_pairings_let_every_hop_run(shipped: Catalog) -> None:
    """MSR 2.9 pairs MKE 3.4-3.8 and 2.10 MKE 3.6-3.9: MKE 3.6 fits 2.8 -> 2.9 -> 2.10's stops."""
    result = plan("2.8.13", "2.10.3", shipped)
    assert len(result.hops) == 2
    hops = hop_ucp(result, Version.parse("3.6.0"), shipped)
    assert not blocking_hops(hops)


def test_a_site_catalogue_pairing_lifts_the_block(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[[ucp]]\ndtr = "2.5"\nucp_min = "3.0"\nucp_max = "3.1"\n', "utf-8")
    catalog = load_catalog(site)
    hops = hop_ucp(plan("2.4.12", "2.6.4", catalog), Version.parse("3.1.6"), catalog)
    assert not blocking_hops(hops)
