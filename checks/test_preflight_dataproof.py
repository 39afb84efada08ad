"""Preflight: every image the proof reaches is pullable before the change, so damage that is
already there is found now and is not blamed on the upgrade afterwards."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from upgrade.cluster.dataproof import SHOWN, ProofResult
from upgrade.cluster.dataproof_record import PREFLIGHT_FILE
from upgrade.cluster.dataproof_text import coverage_line, named
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-DATA-PROOF")
def test_data_plane_pullable(
    preflight_data_proof: ProofResult | None, evidence: CheckRecord, say: Callable[[str], None]
) -> None:
    """Through the registry API (/v2/), each chosen tag's manifest is fetched by its baseline
    digest and hashes to it, manifest lists are followed to their platform manifests, and every
    blob they reference answers HEAD 200 (--data-proof: a seeded sample by default, or full)."""
    proof = preflight_data_proof
    if proof is None:
        pytest.skip("--data-proof=off: the data plane was not proven")
    evidence.attach("data_proof", proof.as_dict(shown=SHOWN))
    # Where to read more, not a warning: evidence, so the terminal does not repeat it.
    evidence.attach("every failure and the seed", PREFLIGHT_FILE)
    shown = named(proof.failures, PREFLIGHT_FILE)
    assert not proof.failures, (
        f"{len(proof.failures)} pull(s) fail before the change: {shown}; restore the missing "
        "blobs or manifests (check the registry's storage configuration) before upgrading, or "
        f"waive PRE-DATA-PROOF to upgrade anyway (post then names them as there before; seed "
        f"{proof.seed}, --data-proof-seed={proof.seed} draws the same sample)"
    )
    # A sampled proof proves only its sample: how much, on the terminal and the report's row.
    evidence.message = f"{coverage_line(proof)}: all present"
    say(f"PRE-DATA-PROOF: {evidence.message}")
