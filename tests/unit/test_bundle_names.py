"""The final name of a bundle: reserved when chosen, so sessions of one second cannot collide."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from upgrade.evidence import integrity
from upgrade.evidence.bundle import (
    Bundle,
    bundle_name,
    remove_abandoned_names,
    unfinished_bundles,
)

SECOND = datetime(2026, 5, 1, 3, 0, 7, tzinfo=UTC)


def _bundle(report_dir: Path, microsecond: int, text: str) -> Bundle:
    bundle = Bundle(report_dir, SECOND.replace(microsecond=microsecond), "lab")
    bundle.file("result.json").write_text(text, encoding="utf-8")
    integrity.seal(bundle.path)
    return bundle


def test_two_bundles_of_one_second_both_choose_then_both_finalise(tmp_path: Path) -> None:
    # Both choose before either renames: the order in which a race of two sessions ends.
    first, second = _bundle(tmp_path, 1, "first"), _bundle(tmp_path, 2, "second")
    name = bundle_name(SECOND, "lab", "2.5.11", "2.6.4")
    chosen = [b.final_path("2.5.11", "2.6.4") for b in (second, first)]
    assert chosen == [tmp_path / name, tmp_path / f"{name}-2"]
    assert [p.is_dir() for p in chosen] == [True, True]  # reserved at once

    finals = [first.finalise("2.5.11", "2.6.4"), second.finalise("2.5.11", "2.6.4")]

    assert finals == [tmp_path / f"{name}-2", tmp_path / name]
    assert [(p / "result.json").read_text(encoding="utf-8") for p in finals] == [
        "first",
        "second",
    ]
    assert all(integrity.verify(p).ok for p in finals)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incomplete")]
    assert unfinished_bundles(tmp_path) == []
    assert os.readlink(tmp_path / "latest") == name


def test_a_name_taken_by_another_process_gets_the_next_suffix(tmp_path: Path) -> None:
    name = bundle_name(SECOND, "lab", "2.5.11", "2.6.4")
    (tmp_path / name).mkdir()
    (tmp_path / name / "result.json").write_text("other", encoding="utf-8")
    bundle = _bundle(tmp_path, 1, "mine")

    final = bundle.finalise("2.5.11", "2.6.4")

    assert final == tmp_path / f"{name}-2"
    assert (tmp_path / name / "result.json").read_text(encoding="utf-8") == "other"


def test_a_discarded_bundle_leaves_neither_its_staging_folder_nor_its_name(
    tmp_path: Path,
) -> None:
    bundle = _bundle(tmp_path, 1, "refused")
    bundle.final_path("2.5.11", None)

    bundle.discard()

    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_frees_the_reserved_name_and_leaves_the_bundle_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _bundle(tmp_path, 1, "kept")
    staged = bundle.path

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        bundle.finalise("2.5.11", "2.6.4")

    assert [p.name for p in tmp_path.iterdir()] == [staged.name]


def test_an_empty_folder_can_be_replaced_by_a_renamed_one_but_a_full_one_cannot(
    tmp_path: Path,
) -> None:
    # What finalise relies on (rename(2) onto an empty directory) and what it avoids.
    source, empty, full = tmp_path / "src", tmp_path / "empty", tmp_path / "full"
    for folder in (source, empty, full):
        folder.mkdir()
    (source / "a").write_text("a", encoding="utf-8")
    (full / "b").write_text("b", encoding="utf-8")
    with pytest.raises(OSError, match="not empty"):
        os.replace(source, full)
    os.replace(source, empty)
    assert (empty / "a").read_text(encoding="utf-8") == "a"


def test_a_name_that_cannot_be_reserved_is_still_chosen_and_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full ext4 disk refuses a new folder (ENOSPC) where a rename may still succeed: choosing
    # the name (the terminal summary does) must not fail the session's end.
    kept, refused = _bundle(tmp_path, 1, "kept"), _bundle(tmp_path, 2, "refused")
    name = bundle_name(SECOND, "lab", "2.5.11", "2.6.4")

    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(self))

    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", full)
        assert kept.final_path("2.5.11", "2.6.4") == tmp_path / name
        assert refused.final_path("2.5.11", "2.6.4") == tmp_path / name
    assert not (tmp_path / name).exists()

    assert kept.finalise("2.5.11", "2.6.4") == tmp_path / name
    refused.discard()  # its name was never reserved: the other bundle's folder is not removed
    assert (tmp_path / name / "result.json").read_text(encoding="utf-8") == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "latest"])


def test_a_name_reserved_by_a_killed_session_is_removed_by_the_next(tmp_path: Path) -> None:
    killed = _bundle(tmp_path, 1, "killed")
    reserved = killed.final_path("2.5.11", "2.6.4")
    marker = reserved / f".reserved-{os.getpid()}"
    assert marker.is_file()
    # The session dies between choosing the name and renaming onto it: its pid is gone.
    dead = 2**22 + 12345  # above pid_max's default range, so no process has it
    marker.rename(reserved / f".reserved-{dead}")
    live = _bundle(tmp_path, 2, "live")
    live_name = live.final_path("2.5.11", "2.6.4")  # this process: alive, kept
    done = _bundle(tmp_path, 3, "done")
    done.finalise("2.5.11", "2.7.0")
    empty_old = tmp_path / "20260501T030001Z-lab-2.4.12-2.5.11"
    empty_old.mkdir()
    os.utime(empty_old, (0, 0))
    assert remove_abandoned_names(tmp_path) == [empty_old, reserved]
    assert not reserved.exists()
    assert live_name.is_dir()
    assert integrity.verify(done.path).ok
    live.finalise("2.5.11", "2.6.4")
    assert integrity.verify(live_name).ok
    assert not any(p.name.startswith(".reserved-") for p in live_name.iterdir())
