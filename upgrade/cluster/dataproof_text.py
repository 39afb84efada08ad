"""The data proof in words: its coverage in one line, and failures named in a message.

A message that counts failures names every one of them, or names the first few and says how
many more there are and which file of the bundle holds them all.
"""

from __future__ import annotations

from collections.abc import Sequence

from upgrade.cluster.dataproof import Failure, ProofResult

__all__ = ["NAMED", "coverage_line", "named"]

NAMED = 3


def named(failures: Sequence[Failure], file: str, limit: int = NAMED) -> str:
    """The first `limit` failures described, then "and K more (see `file`)" when there are more."""
    text = "; ".join(f.describe() for f in failures[:limit])
    rest = len(failures) - limit
    return text + (f"; and {rest:,} more (see {file})" if rest > 0 else "")


def coverage_line(proof: ProofResult) -> str:
    """`1 of 2,000 manifests (sample:1, seed 42), 3 blobs`: what the proof checked."""
    coverage = proof.coverage
    platforms = coverage.platform_manifests_checked
    return (
        f"{coverage.manifests_checked:,} of {coverage.manifests_total:,} manifests "
        f"({proof.mode}, seed {proof.seed}), "
        + (f"{platforms:,} platform manifests, " if platforms else "")
        + f"{coverage.blobs_checked:,} blobs"
    )
