"""Post-upgrade: the vulnerability database was re-downloaded, as every upgrade guide says."""

from __future__ import annotations

import pytest

from upgrade.cluster.vulndb import VulnDBOutcome
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.post


@pytest.mark.check("POST-VULN-DB")
def test_vulnerability_database_updated(
    vuln_db: VulnDBOutcome | None, evidence: CheckRecord
) -> None:
    """With scanning enabled, the vulnerability database was updated after the upgrade began
    and no update failed (imagescan/status: db_updated_at, lastDBUpdateFailed,
    lastVulnOverridesDBUpdateFailed). How it was updated follows --update-vuln-db: online,
    uploaded offline, or only checked; a triggered update's job is followed to its end."""
    if vuln_db is None:
        pytest.skip("image scanning is disabled (scanningEnabled false): no database to update")
    evidence.attach("vulnerability_database", vuln_db.evidence())
    assert vuln_db.ok, "; ".join(vuln_db.problems) + f"; to fix: {vuln_db.action}"
