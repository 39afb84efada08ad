"""The data proof's words: failures counted are all named or said to be in the bundle's file,
and the coverage line says how much was proven and how it was drawn."""

from __future__ import annotations

from upgrade.cluster.dataproof import Coverage, Failure, ProofResult
from upgrade.cluster.dataproof_text import coverage_line, named


def failures(count: int) -> list[Failure]:
    return [
        Failure("blob", "qa/tools", f"t{i}", f"sha256:{i:064x}", 404, "blob unknown")
        for i in range(count)
    ]


def test_up_to_three_failures_are_all_named() -> None:
    text = named(failures(3), "data-proof-post.json")
    assert text.count("qa/tools:") == 3
    assert "more" not in text


def test_more_than_three_say_how_many_more_and_where() -> None:
    text = named(failures(5), "data-proof-post.json")
    assert text.count("qa/tools:") == 3
    assert text.endswith("; and 2 more (see data-proof-post.json)")


def test_the_coverage_line_names_the_mode_seed_and_counts() -> None:
    coverage = Coverage(manifests_total=2000, manifests_checked=1, blobs_checked=3)
    line = coverage_line(ProofResult("sample:1", 42, coverage))
    assert line == "1 of 2,000 manifests (sample:1, seed 42), 3 blobs"
    coverage.platform_manifests_checked = 2
    assert "2 platform manifests" in coverage_line(ProofResult("full", 7, coverage))
