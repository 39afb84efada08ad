"""Comparison with an earlier bundle (--compare-with DIR|latest)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from upgrade.evidence import compare, integrity


def result(
    verdict: str, upgrade_s: float, longest: dict[str, float], failed: list[str]
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "started_at": "2026-11-27T22:00:00.000Z",
        "from_version": "2.5.11",
        "to_version": "2.6.4",
        "phases": {
            "preflight": {"duration_s": 1.5},
            "upgrade": {"duration_s": upgrade_s},
        },
        "availability": {
            "interval_s": 0.1,
            "endpoints": {name: {"longest_outage_s": s} for name, s in longest.items()},
        },
        "checks": [{"id": c, "outcome": "failed"} for c in failed]
        + [{"id": "PRE-OK", "outcome": "passed"}, {"id": "PRE-W", "outcome": "waived"}],
    }


def bundle(root: Path, name: str, data: dict[str, Any]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(data))
    integrity.seal(folder)
    return folder


def test_summary_takes_phase_durations_worst_endpoint_and_failures() -> None:
    summary = compare.summarise(
        result("UPGRADE-FAILED", 30.0, {"lb": 1.2, "replica a": 3.4}, ["POST-B", "POST-A"]),
        "b1",
    )
    assert summary.phase_durations == {"preflight": 1.5, "upgrade": 30.0}
    assert (summary.longest_outage_s, summary.longest_outage_endpoint) == (3.4, "replica a")
    assert summary.failed_checks == ("POST-A", "POST-B")


def test_comparison_gives_deltas_and_new_and_fixed_failures(tmp_path: Path) -> None:
    previous = bundle(tmp_path, "night-1", result("VERIFY-FAILED", 40.0, {"lb": 2.0}, ["POST-A"]))
    earlier, state = compare.load_previous(previous)
    current = compare.summarise(result("VERIFY-FAILED", 35.5, {"lb": 2.5}, ["POST-B"]), "now")
    data = compare.compare(earlier, current, integrity=state).as_dict()
    assert state == "intact (SHA256SUMS verified)"
    assert data["phases"]["upgrade"] == {"previous_s": 40.0, "current_s": 35.5, "delta_s": -4.5}
    assert data["longest_outage"]["delta_s"] == 0.5
    assert data["failed_checks"] == {
        "previous": ["POST-A"],
        "current": ["POST-B"],
        "new": ["POST-B"],
        "fixed": ["POST-A"],
    }
    json.dumps(data)


def test_an_edited_earlier_bundle_is_flagged(tmp_path: Path) -> None:
    previous = bundle(tmp_path, "night-1", result("UPGRADED", 40.0, {"lb": 2.0}, []))
    (previous / "result.json").write_text(json.dumps(result("UPGRADED", 10.0, {"lb": 0.1}, [])))
    _, state = compare.load_previous(previous)
    assert state == "EDITED since it was sealed: changed: result.json"


def test_latest_resolves_the_pointer_or_none_on_a_first_night(tmp_path: Path) -> None:
    assert compare.resolve_previous("latest", tmp_path) is None
    folder = bundle(tmp_path, "20261127T220000Z-lab-2.5.11-2.6.4", result("UPGRADED", 1, {}, []))
    os.symlink(folder.name, tmp_path / "latest")
    assert compare.resolve_previous("latest", tmp_path) == folder.resolve()


def test_a_named_folder_must_be_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(compare.CompareError, match="no such bundle folder"):
        compare.resolve_previous(str(tmp_path / "missing"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(compare.CompareError, match=r"holds no result\.json"):
        compare.resolve_previous(str(tmp_path / "empty"), tmp_path)


def test_an_unreadable_result_is_a_compare_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "result.json").write_text("{not json")
    with pytest.raises(compare.CompareError, match="cannot read"):
        compare.load_previous(folder)
