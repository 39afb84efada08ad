"""A --phase=post baseline is used only as its preflight bundle sealed it (SHA256SUMS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from upgrade.cluster.baseline import Baseline, BaselineError
from upgrade.cluster.baseline_seal import check_sealed
from upgrade.evidence import integrity


def sealed_bundle(folder: Path, proof: bool = True) -> Path:
    Baseline(
        taken_at=datetime(2026, 11, 30, 21, 0, tzinfo=UTC),
        target="https://dtr.example.com",
        replica_versions={"5eb9459a7832": "2.5.11"},
        inventory={"engineering/api": {"1.0": "sha256:" + "a" * 64}, "qa/tools": {}},
    ).save(folder / "baseline.json")
    if proof:
        (folder / "data-proof-preflight.json").write_text("{}\n")
    integrity.seal(folder)
    return folder / "baseline.json"


def refusal(path: Path) -> str:
    with pytest.raises(BaselineError) as caught:
        check_sealed(path)
    message = str(caught.value)
    assert message.startswith(f"--baseline {path}: ")
    assert "\n" not in message
    return message


def test_a_sealed_baseline_is_accepted_with_or_without_a_proof(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    check_sealed(sealed_bundle(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    check_sealed(sealed_bundle(tmp_path / "b", proof=False))


def test_a_repository_deleted_from_the_baseline_is_refused(tmp_path: Path) -> None:
    path = sealed_bundle(tmp_path)
    data = json.loads(path.read_text())
    del data["inventory"]["qa/tools"]
    path.write_text(json.dumps(data))
    message = refusal(path)
    assert "baseline.json changed since the preflight sealed its bundle" in message
    assert f"dtr-upgrade verify-bundle {tmp_path}" in message


def test_a_changed_or_added_preflight_proof_is_refused(tmp_path: Path) -> None:
    path = sealed_bundle(tmp_path)
    (tmp_path / "data-proof-preflight.json").write_text('{"failures": []}\n')
    assert "data-proof-preflight.json changed since" in refusal(path)
    (tmp_path / "other").mkdir()
    path = sealed_bundle(tmp_path / "other", proof=False)
    (tmp_path / "other" / "data-proof-preflight.json").write_text("{}\n")
    assert "data-proof-preflight.json is not listed in" in refusal(path)


def test_a_baseline_without_sums_or_with_broken_sums_is_refused(tmp_path: Path) -> None:
    path = sealed_bundle(tmp_path)
    (tmp_path / integrity.SUMS_NAME).write_text("not a sums line\n")
    assert "not a sha256sum line" in refusal(path)
    (tmp_path / integrity.SUMS_NAME).unlink()
    assert "no SHA256SUMS beside it" in refusal(path)


def test_a_file_that_is_no_baseline_is_refused_before_its_sums(tmp_path: Path) -> None:
    sealed_bundle(tmp_path)
    (tmp_path / "result.json").write_text('{"verdict": "GO"}')
    integrity.seal(tmp_path)
    message = refusal(tmp_path / "result.json")
    assert "not a baseline file" in message
    assert "a baseline is the cluster before the change" in message
