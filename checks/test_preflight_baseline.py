"""Preflight: record the cluster as it is before the change, for the post-upgrade comparison."""

from __future__ import annotations

import pytest

from upgrade.cluster.baseline import Baseline
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-BASELINE")
def test_baseline_recorded(baseline: Baseline, evidence: CheckRecord) -> None:
    """Replicas and versions, every repository's tags and manifest digests, settings, crons
    and recent jobs are recorded (baseline.json in the bundle) for the post-upgrade checks."""
    evidence.attach("baseline", baseline.summary())
    assert baseline.replica_versions, "the baseline holds no replica"
