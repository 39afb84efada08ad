"""Versions the checks and fixtures compare are releases: a build suffix (`2.7.0-29094adc`, what a
real 2.7.0 reports in docs.json info.version) is that release, never another version."""

from __future__ import annotations

import pytest

from upgrade.cluster.containers import on_release
from upgrade.cluster.engine_evidence import EngineEvidence
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.planner import one_release, unfinished_upgrade
from upgrade.rules.versions import Version


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2.7.0", True),
        ("2.7.0-29094adc", True),
        ("2.6.4", False),
        ("2.7.1-29094adc", False),
        ("", False),
        ("latest", False),
    ],
)
def test_a_container_label_is_on_the_targets_release(label: str, expected: bool) -> None:
    """POST-REPLICA-CONTAINERS' comparison of com.docker.dtr.version with --to-version."""
    assert on_release(label, Version.parse("2.7.0")) is expected
    assert on_release(label, Version.parse("2.7.0-29094adc")) is expected


def test_the_running_version_is_one_release_whatever_the_builds() -> None:
    """The `current_version` fixture's rule: builds of one release are one running version."""
    assert one_release(["2.7.0-29094adc", "2.7.0-29094adc"]) == Version.parse("2.7.0-29094adc")
    assert one_release(["2.7.0-29094adc", "2.7.0"]) == Version.parse("2.7.0")
    assert one_release(["2.6.4", "2.7.0-29094adc"]) is None


def test_an_unfinished_upgrade_is_found_when_replicas_report_builds() -> None:
    """Replicas on 2.6.4 and on builds of the target 2.7.0 are an upgrade cut short, not three
    versions."""
    replicas = ["2.6.4", "2.7.0-29094adc", "2.7.0"]
    assert unfinished_upgrade(replicas, Version.parse("2.7.0"), load_catalog()) == Version.parse(
        "2.6.4"
    )
    assert unfinished_upgrade(["2.6.4-1a2b3c4d", "2.7.0"], Version.parse("2.7.0"), load_catalog())
    assert (
        unfinished_upgrade(["2.6.4", "2.6.4-1a2b3c4d"], Version.parse("2.7.0"), load_catalog())
        is None
    )


def test_the_engine_evidence_finds_the_swaps_off_a_release_by_any_build() -> None:
    """A replacement whose old containers are labelled 2.6.4-1a2b3c4d took the replica off 2.6.4."""
    swap = {
        "replica": "5eb9459a7832",
        "from_version": "2.6.4-1a2b3c4d",
        "to_version": "2.7.0-29094adc",
        "old": [{"name": "a", "id": "1", "image": "i:1", "version": "2.6.4-1a2b3c4d"}],
        "new": [{"name": "a", "id": "2", "image": "i:2", "version": "2.7.0-29094adc"}],
        "removed_at": "2026-01-01T00:00:00Z",
        "created_at": "2026-01-01T00:00:01Z",
    }
    evidence = EngineEvidence.of({"engine": "e", "replacements": [swap]})
    assert [r.replica for r in evidence.replaced("2.6.4")] == ["5eb9459a7832"]
    assert evidence.replaced("2.6.4-1a2b3c4d") == evidence.replaced("2.6.4")
    assert evidence.replaced("2.7.0") == []
