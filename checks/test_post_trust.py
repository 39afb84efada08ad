"""Post-upgrade: UCP content trust is back on when the change says so."""

from __future__ import annotations

import pytest

from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord
from upgrade.plugin.harness import Harness

pytestmark = pytest.mark.post

PREFLIGHT_CHECK = "PRE-CONTENT-TRUST"


def _required_before(harness: Harness) -> bool | None:
    """Whether preflight saw content trust required (None: no preflight in this session)."""
    for record in harness.records.values():
        if record.check_id == PREFLIGHT_CHECK and record.outcome != "skipped":
            trust = record.evidence.get("content_trust")
            if isinstance(trust, dict) and isinstance(trust.get("required"), bool):
                return bool(trust["required"])
    return None


@pytest.mark.check("POST-CONTENT-TRUST")
def test_content_trust_restored(
    target: Target, settings: Settings, harness: Harness, evidence: CheckRecord
) -> None:
    """With --expect-content-trust, UCP requires signed images again after the upgrade
    ([trust_configuration] require_content_trust = true). Without it, the check reminds the
    operator when preflight found content trust on (allowed by a waiver)."""
    before = _required_before(harness)
    evidence.attach("required_before", before)
    trust = target.ucp().content_trust()
    evidence.attach("content_trust", trust)
    if settings.expect_content_trust:
        assert trust.required, (
            "UCP does not require content trust after the upgrade, but the change expects it "
            "back on (--expect-content-trust): enable it in UCP (Admin Settings > Docker Content "
            "Trust, or [trust_configuration] require_content_trust = true in config-toml)"
        )
        return
    if before:
        reminder = (
            "content trust was on before the change (PRE-CONTENT-TRUST waived): turn it back on "
            "in UCP if it was switched off for the upgrade, and pass --expect-content-trust to "
            "verify it"
        )
        evidence.note(reminder)
        if not trust.required:
            pytest.skip(f"reminder: {reminder}")
        return
    pytest.skip(
        "no --expect-content-trust given and content trust was "
        + (
            "off before the change: nothing to restore"
            if before is False
            else "not checked in "
            "preflight (no preflight in this session): pass --expect-content-trust to verify it"
        )
    )
