"""A baseline is of the cluster it is compared with when they share a replica ID."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dtrlab import LabConfig
from dtrlab.errors import LabConfigError
from upgrade.cluster.baseline import Baseline, load, other_cluster, recorded_replica_ids

TAKEN = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


def baseline(*replica_ids: str) -> Baseline:
    return Baseline(
        taken_at=TAKEN,
        target="https://dtr-a.example.com",
        replica_versions=dict.fromkeys(replica_ids, "2.5.11"),
        inventory={},
    )


def test_the_same_replicas_at_another_address_are_the_same_cluster() -> None:
    """The address may change (load balancer, a replica's name); the replica IDs do not."""
    before = baseline("5eb9459a7832", "0a1b2c3d4e5f", "111111111111")
    now = ["5eb9459a7832", "0a1b2c3d4e5f", "111111111111"]
    assert other_cluster(before, Path("b.json"), "https://10.0.0.5", now) == ""


def test_a_replica_joined_or_removed_since_is_still_the_same_cluster() -> None:
    before = baseline("5eb9459a7832", "0a1b2c3d4e5f", "111111111111")
    assert other_cluster(before, "b.json", "https://dtr-a", ["5eb9459a7832", "222222222222"]) == ""
    assert other_cluster(before, "b.json", "https://dtr-a", ["0a1b2c3d4e5f"]) == ""


def test_no_replica_in_common_is_another_cluster_named_with_both() -> None:
    before = baseline("5eb9459a7832", "0a1b2c3d4e5f")
    message = other_cluster(
        before, Path("reports/x/baseline.json"), "https://dtr-b.example.com", ["9", "8"]
    )
    assert message == (
        "--baseline reports/x/baseline.json was taken from another DTR cluster: at "
        "https://dtr-a.example.com (replicas 0a1b2c3d4e5f, 5eb9459a7832) on "
        "2026-11-30T21:00:00.000Z, while this session's DTR at https://dtr-b.example.com has "
        "replicas 8, 9, none in common; pass the baseline.json of a preflight bundle of this "
        "DTR, or run a preflight of it (--phase=preflight) for one"
    )
    assert "\n" not in message


def test_the_replica_ids_a_baseline_file_records(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    baseline("5eb9459a7832", "0a1b2c3d4e5f").save(path)
    assert set(recorded_replica_ids(path)) == {"5eb9459a7832", "0a1b2c3d4e5f"}
    assert load(path).replica_versions.keys() == {"5eb9459a7832", "0a1b2c3d4e5f"}
    path.write_text(json.dumps({"format": 1}))
    assert recorded_replica_ids(path) == ()
    assert recorded_replica_ids(tmp_path / "missing.json") == ()


def test_the_lab_takes_only_dtr_shaped_distinct_replica_ids() -> None:
    """The lab's replicas take a baseline's IDs: 12 hex characters each (dtr-facts.md 2)."""
    assert LabConfig(replica_ids=("5eb9459a7832",)).replica_ids == ("5eb9459a7832",)
    with pytest.raises(LabConfigError, match="12-hex-character IDs, not xyz"):
        LabConfig(replica_ids=("xyz",))
    with pytest.raises(LabConfigError, match="not repeats"):
        LabConfig(replica_ids=("5eb9459a7832", "5eb9459a7832"))
