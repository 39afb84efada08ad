"""Post-upgrade: every image preflight proved pullable still is (the registry API, not DTR's
metadata), and damage that was there before the change is named as such, not blamed on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from upgrade.cluster.dataproof import SHOWN
from upgrade.cluster.dataproof_record import POST_FILE, PostProof
from upgrade.cluster.dataproof_text import coverage_line, named
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.post


@pytest.mark.check("POST-DATA-PROOF")
def test_data_plane_still_pullable(
    post_data_proof: PostProof | None, evidence: CheckRecord, say: Callable[[str], None]
) -> None:
    """The preflight data proof repeated with its mode and seed on the baseline's tags: every
    manifest fetched by digest hashes to it, every platform manifest and blob is there; a
    failure preflight also met is reported as there before, not as the upgrade's."""
    if post_data_proof is None:
        pytest.skip("--data-proof=off: the data plane was not proven")
    proof, sorted_ = post_data_proof.result, post_data_proof.comparison
    evidence.attach("data_proof", proof.as_dict(shown=SHOWN))
    evidence.attach("new_failures", [f.as_dict() for f in sorted_.new[:SHOWN]])
    evidence.attach("failures_before_the_change", [f.as_dict() for f in sorted_.before[:SHOWN]])
    evidence.attach("failures_not_proven_before", [f.as_dict() for f in sorted_.unproven[:SHOWN]])
    evidence.attach("fixed_since_preflight", [f.as_dict() for f in sorted_.gone[:SHOWN]])
    before = post_data_proof.before
    # Where to read more, not a warning: evidence, so the terminal does not repeat it.
    evidence.attach("every failure and the seed", POST_FILE)
    evidence.attach(
        "compared_with", before.shown if before else "no preflight proof (none was found)"
    )
    if sorted_.before:
        evidence.note(
            f"{len(sorted_.before)} failure(s) were there before the change (PRE-DATA-PROOF) "
            f"and are not the upgrade's: {named(sorted_.before, POST_FILE)}"
        )
    problems = []
    if sorted_.new:
        problems.append(
            f"{len(sorted_.new)} new since preflight proved them pullable: "
            + named(sorted_.new, POST_FILE)
        )
    if sorted_.unproven:
        problems.append(
            f"{len(sorted_.unproven)} on tags no preflight proof checked"
            + ("" if before else " (no data-proof-preflight.json beside --baseline)")
            + ": "
            + named(sorted_.unproven, POST_FILE)
        )
    assert not problems, (
        "pulls fail after the upgrade although DTR still lists the tags: "
        + " and ".join(problems)
        + "; check every replica's storage configuration (the upgrade must keep it) and the "
        "metadatastoremigration job, then re-run with --phase=post"
    )
    # A sampled proof proves only its sample: how much, on the terminal and the report's row.
    evidence.message = coverage_line(proof) + (
        f": none missing since preflight ({len(sorted_.before)} missing before the change)"
        if sorted_.before
        else ": all present"
    )
    say(f"POST-DATA-PROOF: {evidence.message}")
