"""Nightly history: every evidence bundle under some folders, found, read and verified.

A nightly job leaves one bundle per target per night (kept as CI artifacts, often unpacked into
nested folders). `dtr-upgrade history DIR...` finds every bundle under the folders it is given,
verifies each one's SHA256SUMS, and writes one HTML page (history_page, with a trend chart per
target drawn by history_chart). A bundle that does not verify is marked wherever it is shown:
its figures are what the files say now, not what the session sealed.

A bundle is a folder holding result.json, UNFINISHED.json or SHA256SUMS; the `latest` pointer
(a symlink) is not followed, so no bundle is counted twice. A folder `.incomplete-*` is a
bundle its session never sealed (killed, and no later session in that report directory closed
it) and is shown as unfinished and unsealed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from upgrade.errors import HarnessError
from upgrade.evidence.bundle import UNFINISHED_NOTE
from upgrade.evidence.chart import parse_time
from upgrade.evidence.compare import RESULT_NAME, RunSummary, summarise
from upgrade.evidence.integrity import SUMS_NAME, IntegrityError, verify
from upgrade.rules.verdict import GOOD

__all__ = [
    "PHASES",
    "BundleRun",
    "History",
    "HistoryError",
    "find_bundles",
    "read_bundle",
    "read_history",
]

REPORT_NAME: Final = "report.html"
BASELINE_NAME: Final = "baseline.json"
STAGED_PREFIX: Final = ".incomplete-"
UNFINISHED: Final = "UNFINISHED"
UNKNOWN_TARGET: Final = "unknown target"
# Verdicts that say neither yes nor no: the session did not reach a judgement.
UNDECIDED: Final = frozenset({"INTERRUPTED", "INCOMPLETE", UNFINISHED, ""})
PHASES: Final = ("preflight", "upgrade", "post")
_STAMP = re.compile(r"^(?:\.incomplete-)?(\d{8}T\d{6})\d*Z")

Standing = Literal["good", "failed", "undecided"]


class HistoryError(HarnessError):
    """The history cannot be made (no such folder, no bundle found); the message says why."""


@dataclass(frozen=True)
class BundleRun:
    """One bundle as the history shows it.

    `summary` is compare's view of result.json (None when the bundle has none or it cannot be
    read); `verified` says whether every file is as SHA256SUMS lists it, `integrity` says what
    was found in words.
    """

    path: Path
    target: str
    started_at: datetime | None
    verdict: str
    verdict_reason: str
    summary: RunSummary | None
    verified: bool
    integrity: str
    problem: str = ""

    @property
    def name(self) -> str:
        """The bundle folder's name."""
        return self.path.name

    @property
    def standing(self) -> Standing:
        """Whether the verdict is good, a failure, or no judgement at all."""
        if self.verdict in GOOD:
            return "good"
        return "undecided" if self.verdict in UNDECIDED else "failed"

    @property
    def report(self) -> Path | None:
        """The bundle's report.html, when it has one."""
        page = self.path / REPORT_NAME
        return page if page.is_file() else None


@dataclass(frozen=True)
class History:
    """Every bundle found, oldest first, and the folders they were read from."""

    folders: tuple[Path, ...]
    runs: tuple[BundleRun, ...]

    def by_target(self) -> dict[str, list[BundleRun]]:
        """The runs of each target, oldest first, targets in name order."""
        grouped: dict[str, list[BundleRun]] = {}
        for run in self.runs:
            grouped.setdefault(run.target, []).append(run)
        return dict(sorted(grouped.items()))

    @property
    def unverified(self) -> list[BundleRun]:
        """The bundles whose files are not as they were sealed (or were never sealed)."""
        return [run for run in self.runs if not run.verified]


def _is_bundle(folder: Path, files: Sequence[str]) -> bool:
    if folder.name.startswith(STAGED_PREFIX):
        return True
    return any(name in files for name in (RESULT_NAME, UNFINISHED_NOTE, SUMS_NAME))


def find_bundles(folders: Sequence[Path]) -> list[Path]:
    """Every bundle folder under `folders` (each counted once), in path order.

    Symlinked folders (a report directory's `latest`) are not followed; a bundle's own
    subfolders are part of it, not bundles of their own.
    """
    for folder in folders:
        if not folder.is_dir():
            raise HistoryError(f"{folder}: no such folder (give folders that hold bundles)")
    found: dict[Path, Path] = {}
    for folder in folders:
        for directory, subfolders, files in os.walk(folder):
            here = Path(directory)
            if _is_bundle(here, files):
                found.setdefault(here.resolve(), here)
                subfolders.clear()
            else:
                subfolders.sort()
    return sorted(found.values())


def _read_json(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no {path.name}"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path.name} cannot be read: {' '.join(str(exc).split())}"
    if not isinstance(data, dict):
        return None, f"{path.name} is not a JSON object"
    return data, ""


def _integrity(folder: Path) -> tuple[bool, str]:
    if not (folder / SUMS_NAME).is_file():
        return False, f"not sealed (no {SUMS_NAME})"
    try:
        found = verify(folder)
    except IntegrityError as exc:
        return False, str(exc)
    if found.ok:
        return True, f"{SUMS_NAME} verified"
    return False, "; ".join(found.lines())


def _stamp(folder: Path) -> datetime | None:
    match = _STAMP.match(folder.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def read_bundle(folder: Path) -> BundleRun:
    """One bundle: its result (or its UNFINISHED.json note) and whether it verifies.

    The target of a bundle without result.json comes from its baseline.json when it has one;
    otherwise it is left empty for `read_history` to fill in.
    """
    verified, state = _integrity(folder)
    result, problem = _read_json(folder / RESULT_NAME)
    if result is not None:
        summary = summarise(result, folder.name)
        return BundleRun(
            path=folder,
            target=str(result.get("target") or UNKNOWN_TARGET),
            started_at=parse_time(result.get("started_at")) or _stamp(folder),
            verdict=summary.verdict,
            verdict_reason=str(result.get("verdict_reason") or ""),
            summary=summary,
            verified=verified,
            integrity=state,
        )
    note, note_problem = _read_json(folder / UNFINISHED_NOTE)
    baseline, _ = _read_json(folder / BASELINE_NAME)
    verdict, reason = "", ""
    if note is not None:
        verdict, reason, problem = UNFINISHED, str(note.get("verdict_reason") or ""), ""
    elif folder.name.startswith(STAGED_PREFIX):
        verdict, problem = UNFINISHED, ""
        reason = "the session that wrote this bundle never sealed it (killed, or still running)"
    elif problem == f"no {RESULT_NAME}" and note_problem != f"no {UNFINISHED_NOTE}":
        problem = note_problem
    return BundleRun(
        path=folder,
        target=str((baseline or {}).get("target") or ""),
        started_at=_stamp(folder) or parse_time((note or {}).get("found_at")),
        verdict=verdict,
        verdict_reason=reason,
        summary=None,
        verified=verified,
        integrity=state,
        problem=problem,
    )


def _fill_targets(runs: list[BundleRun]) -> list[BundleRun]:
    # A bundle without a target (an unfinished session's) belongs to the one target of the
    # other bundles in its report directory, where there is exactly one.
    near: dict[Path, set[str]] = {}
    for run in runs:
        if run.target:
            near.setdefault(run.path.parent, set()).add(run.target)
    filled = []
    for run in runs:
        if not run.target:
            targets = near.get(run.path.parent, set())
            target = next(iter(targets)) if len(targets) == 1 else UNKNOWN_TARGET
            run = replace(run, target=target)
        filled.append(run)
    return filled


def read_history(folders: Sequence[Path]) -> History:
    """Every bundle under `folders`, read and verified, oldest first."""
    bundles = find_bundles(folders)
    if not bundles:
        shown = " ".join(str(folder) for folder in folders)
        raise HistoryError(
            f"no evidence bundle under {shown} (a bundle is a folder with {RESULT_NAME} or "
            f"{UNFINISHED_NOTE})"
        )
    runs = _fill_targets([read_bundle(folder) for folder in bundles])
    oldest = datetime.min.replace(tzinfo=UTC)
    runs.sort(key=lambda run: (run.started_at or oldest, run.name))
    return History(tuple(folders), tuple(runs))
