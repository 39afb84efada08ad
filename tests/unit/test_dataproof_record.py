"""A data proof's file on a full disk: lost evidence named as a bundle problem, the proof still
judged, no half file left, and post still repeating preflight's mode and seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.disks import full_tmpfs
from upgrade.cluster import dataproof_record
from upgrade.cluster.dataproof import Coverage, Failure, ProofResult
from upgrade.config.proof_mode import ProofMode

DIGEST = "sha256:" + "0" * 64
PROOF = ProofResult("sample:4", 77, Coverage(), [Failure("blob", "a/x", "1", DIGEST, 404, "gone")])


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with full_tmpfs(tmp_path / "disk") as mountpoint:
        yield mountpoint


@pytest.fixture
def proved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The proof's (mode, seed) of each call; every proof finds PROOF's failure."""
    calls: list[tuple[str, int]] = []

    def prove(_registry: Any, _inventory: Any, mode: ProofMode, seed: int, **_: Any) -> Any:
        calls.append((str(mode), seed))
        return ProofResult(str(mode), seed, Coverage(), list(PROOF.failures))

    monkeypatch.setattr(dataproof_record, "prove", prove)
    return calls


@pytest.mark.parametrize("name", [dataproof_record.PREFLIGHT_FILE, dataproof_record.POST_FILE])
def test_a_proof_file_that_cannot_be_written_is_a_bundle_problem_not_a_failure(
    full_disk: Path, proved: list[tuple[str, int]], name: str
) -> None:
    problems: list[str] = []
    result = dataproof_record.run(
        None,  # type: ignore[arg-type]
        {"a/x": {"1": "sha256:" + "0" * 64}},
        ProofMode("sample", 4),
        77,
        full_disk / name,
        lambda _: None,
        problems,
    )

    assert result.failures == PROOF.failures, "the proof's own result is what judges the check"
    assert problems == [f"{name}: not written (No space left on device); the proof was judged"]
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"], "no half file is left"


def test_post_repeats_preflights_mode_and_seed_when_its_file_was_lost(
    full_disk: Path, proved: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: Any = type(
        "S",
        (),
        {"data_proof": ProofMode("sample", 9), "data_proof_seed": None, "mode": "apply"},
    )()
    baseline: Any = type("B", (), {"inventory": {"a/x": {"1": "sha256:" + "0" * 64}}})()
    problems: list[str] = []

    after = dataproof_record.post(
        None,  # type: ignore[arg-type]
        baseline,
        settings,
        full_disk,
        lambda _: None,
        problems,
        earlier=PROOF,
    )

    assert after is not None
    assert proved == [("sample:4", 77)], "preflight's sample, not the settings' new one"
    assert after.before is not None
    assert "data-proof-preflight.json was not written" in after.before.shown
    assert after.comparison.before == tuple(PROOF.failures), "sorted against preflight's proof"
    assert problems == [
        f"{dataproof_record.POST_FILE}: not written (No space left on device); the proof was judged"
    ]
