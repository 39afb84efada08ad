"""Post-upgrade: the --baseline compared against is of this cluster."""

from __future__ import annotations

import pytest

from upgrade.cluster import baseline as baselines
from upgrade.cluster.baseline import Baseline
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.post


@pytest.mark.check("POST-BASELINE-MATCH")
def test_baseline_of_this_cluster(
    target: Target, settings: Settings, baseline_as_given: Baseline, evidence: CheckRecord
) -> None:
    """The baseline shares a replica ID with the cluster now: a DTR cluster is known by its
    replica IDs, which the upgrade keeps (dtr-facts.md 1.2, 2). A baseline of another DTR would
    make every comparison of the post checks meaningless, so they refuse it too."""
    replica_ids = sorted(target.replica_urls())
    evidence.attach("baseline_target", baseline_as_given.target)
    evidence.attach("baseline_replicas", sorted(baseline_as_given.replica_versions))
    evidence.attach("replicas", replica_ids)
    source = settings.baseline or "baseline.json"
    problem = baselines.other_cluster(baseline_as_given, source, target.dtr_url, replica_ids)
    assert not problem, problem
