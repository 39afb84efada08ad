"""The upgrade itself: the bootstrapper run as the guide documents it, resumed on failure."""

from __future__ import annotations

import pytest

from upgrade.evidence.records import CheckRecord
from upgrade.procedure.procedure import UpgradeRecord

pytestmark = pytest.mark.upgrade


@pytest.mark.check("UPG-BOOTSTRAPPER")
def test_bootstrapper_upgrade_completed(
    upgrade_run: UpgradeRecord | None, evidence: CheckRecord
) -> None:
    """The bootstrapper's `upgrade` command ran non-interactively for every hop of the plan and
    exited 0 with no fatal log line; failed attempts were re-run to resume (the guide: "re-run
    the upgrade command and it will resume from where it left off")."""
    assert upgrade_run is not None
    evidence.attach("upgrade", upgrade_run.as_dict())
    for hop in upgrade_run.hops:
        if len(hop.attempts) > 1:
            evidence.note(
                f"{hop.from_version} -> {hop.to_version} needed {len(hop.attempts)} attempts"
            )
    if upgrade_run.state != "passed":
        pytest.fail(f"upgrade {upgrade_run.state}: {upgrade_run.message}", pytrace=False)
