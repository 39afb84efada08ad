"""Post-upgrade: the registry takes a push and serves it back (optional, --canary-repo)."""

from __future__ import annotations

import pytest

from upgrade.cluster.canary import round_trip
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.post


@pytest.mark.usefixtures("settled")
@pytest.mark.check("POST-CANARY")
def test_canary_round_trip(target: Target, settings: Settings, evidence: CheckRecord) -> None:
    """A tiny image (configuration and one layer, built in memory) pushed through /v2/ to
    --canary-repo comes back byte for byte when pulled by digest, and its tag is deleted."""
    if settings.canary_repo is None:
        pytest.skip("no --canary-repo given: no push/pull round trip was made")
    result = round_trip(target.registry(), settings.canary_repo)
    evidence.attach("canary", result.as_dict())
    assert not result.error, (
        f"canary round trip to {settings.canary_repo} failed: {result.error}"
        + (
            ""
            if result.cleaned_up or not result.digest
            else f"; delete the tag {result.tag} if it was left behind"
        )
    )
    assert result.cleaned_up, f"the canary tag {result.tag} was not deleted"
