"""Post-upgrade: UCP content trust is back on when the change says so."""

from __future__ import annotations

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.post


@pytest.mark.check("POST-CONTENT-TRUST")
def test_content_trust_restored(
    target: Target,
    settings: Settings,
    content_trust_before: ContentTrust | None,
    evidence: CheckRecord,
) -> None:
    """With --expect-content-trust, UCP requires signed images again after the upgrade
    ([trust_configuration] require_content_trust = true). Without it, the check reminds the
    operator when preflight found content trust on (allowed by a waiver)."""
    before = None if content_trust_before is None else content_trust_before.required
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
            "content trust was on before the change (PRE-CONTENT-TRUST waived, or allow_repos "
            "let the DTR images bypass it): turn it back on in UCP if it was switched off for "
            "the upgrade, and pass --expect-content-trust to verify it"
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
