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
    """With scanning enabled, the vulnerability database was updated since the upgrade began
    and no update failed (imagescan/status: lastDBUpdateFailed,
    lastVulnOverridesDBUpdateFailed). Updated means an update job that ended `done` (an update
    that finds no newer database leaves db_updated_at as it was), or without one a db_updated_at
    after the upgrade began. How it was updated follows --update-vuln-db: online, uploaded
    offline, or only checked; a triggered update's job is followed to its end."""
    if vuln_db is None:
        pytest.skip("image scanning is disabled (scanningEnabled false): no database to update")
    evidence.attach("vulnerability_database", vuln_db.evidence())
    for note in vuln_db.notes:
        evidence.note(note)
    assert vuln_db.ok, "; ".join(vuln_db.problems) + f"; to fix: {vuln_db.action}"
