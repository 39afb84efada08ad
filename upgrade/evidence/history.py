"""Nightly history: every evidence bundle under some folders, on one self-contained page.

A nightly job leaves one bundle per target per night (kept as CI artifacts, often unpacked into
nested folders). `dtr-upgrade history DIR...` finds every bundle under the folders it is given,
verifies each one's SHA256SUMS, and writes one HTML page: per target a trend chart (an inline
SVG drawn like the report's availability chart) and a table, newest night first, of the verdict,
the phase times, the longest outage of each probed endpoint and the failed check IDs, with a
relative link to each bundle's report.html. A bundle that does not verify is marked wherever it
is shown: its figures are what the files say now, not what the session sealed.

A bundle is a folder holding result.json, UNFINISHED.json or SHA256SUMS; the `latest` pointer
(a symlink) is not followed, so no bundle is counted twice. A folder `.incomplete-*` is a
bundle its session never sealed (killed, and no later session in that report directory closed
it) and is shown as unfinished and unsealed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

from upgrade.errors import HarnessError
from upgrade.evidence.bundle import UNFINISHED_NOTE
from upgrade.evidence.chart import LABEL_W, OK_FILL, OUTAGE_FILL, PLOT_W, STEPS, parse_time
from upgrade.evidence.compare import RESULT_NAME, RunSummary, summarise
from upgrade.evidence.files import atomic_write
from upgrade.evidence.integrity import SUMS_NAME, IntegrityError, verify
from upgrade.rules.verdict import GOOD

__all__ = [
    "HISTORY_NAME",
    "BundleRun",
    "History",
    "HistoryError",
    "find_bundles",
    "read_bundle",
    "read_history",
    "render",
    "summary_lines",
    "trend_svg",
    "write_history",
]

HISTORY_NAME: Final = "history.html"
REPORT_NAME: Final = "report.html"
BASELINE_NAME: Final = "baseline.json"
STAGED_PREFIX: Final = ".incomplete-"
UNFINISHED: Final = "UNFINISHED"
UNKNOWN_TARGET: Final = "unknown target"
# Verdicts that say neither yes nor no: the session did not reach a judgement.
UNDECIDED: Final = frozenset({"INTERRUPTED", "INCOMPLETE", UNFINISHED, ""})
PHASES: Final = ("preflight", "upgrade", "post")
PHASE_COLOURS: Final = {"preflight": "#1f77b4", "upgrade": "#ff7f0e", "post": "#9467bd"}
UNDECIDED_FILL: Final = "#8a8a8a"
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


# -- the trend chart -------------------------------------------------------------------------

FIGURE_W: Final = 150
STRIP_H: Final = 16
PLOT_H: Final = 70
GAP: Final = 26
AXIS_H: Final = 30
TOP: Final = 18
MAX_Y_TICKS: Final = 4
# An x axis label (MM-DD) is about this wide; labels are thinned so none overlap.
X_LABEL_W: Final = 40
# Panel titles sit left of the y axis's tick labels.
TITLE_X: Final = LABEL_W - 50


def _y_step(largest: float) -> float:
    for step in STEPS:
        if largest / step <= MAX_Y_TICKS:
            return float(step)
    return float(-(-largest // (MAX_Y_TICKS * 3600)) * 3600)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _when(run: BundleRun) -> str:
    return run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "time unknown"


class _Plot:
    """One panel of the trend chart: a y axis in seconds and one line per series."""

    def __init__(self, top: float, series: Mapping[str, Sequence[float | None]]) -> None:
        values = [v for points in series.values() for v in points if v is not None]
        self.top = top
        self.step = _y_step(max(values, default=0.0) or 1.0)
        self.ceiling = self.step * max(1, -(-max(values, default=0.0) // self.step))

    def y_of(self, value: float) -> float:
        return self.top + PLOT_H - (value / self.ceiling) * PLOT_H

    def axis(self, title: str) -> list[str]:
        parts = [
            f'<text x="{TITLE_X}" y="{self.top + PLOT_H / 2 + 4}" text-anchor="end" '
            f'font-weight="bold">{escape(title)}</text>'
        ]
        tick = 0.0
        while tick <= self.ceiling + 1e-9:
            y = self.y_of(tick)
            parts.append(
                f'<line x1="{LABEL_W}" y1="{y:.2f}" x2="{LABEL_W + PLOT_W}" y2="{y:.2f}" '
                f'stroke="{"#444" if tick == 0 else "#ddd"}"/>'
                f'<text x="{LABEL_W - 4}" y="{y + 4:.2f}" text-anchor="end" fill="#444">'
                f"{tick:g} s</text>"
            )
            tick += self.step
        return parts


def trend_svg(runs: Sequence[BundleRun]) -> str:
    """One target's nights as an inline `<svg>`: a verdict strip (one square per bundle,
    outlined black and marked `!` when it does not verify), the longest outage, and the phase
    times, each bundle at its own place on the x axis, oldest left."""
    count = len(runs)
    slot = PLOT_W / max(count, 1)

    def x_of(index: int) -> float:
        return LABEL_W + slot * (index + 0.5)

    outage: list[float | None] = [
        run.summary.longest_outage_s if run.summary else None for run in runs
    ]
    phases: dict[str, list[float | None]] = {
        name: [run.summary.phase_durations.get(name) if run.summary else None for run in runs]
        for name in PHASES
    }
    phases = {name: points for name, points in phases.items() if any(p is not None for p in points)}
    outage_plot = _Plot(TOP + STRIP_H + GAP, {"outage": outage})
    phase_plot = _Plot(outage_plot.top + PLOT_H + GAP, phases)
    axis_y = phase_plot.top + PLOT_H
    width = LABEL_W + PLOT_W + FIGURE_W
    height = axis_y + AXIS_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dtr-trend" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'font-family="sans-serif" font-size="11">',
        "<title>Verdict, longest outage and phase times of each bundle, oldest left (UTC)</title>",
        f'<text x="{LABEL_W + PLOT_W + 6}" y="{TOP - 6}" font-weight="bold">latest</text>',
        f'<text x="{TITLE_X}" y="{TOP + STRIP_H - 4}" text-anchor="end" '
        'font-weight="bold">verdict</text>',
    ]
    side = min(STRIP_H, max(4.0, slot - 3))
    for index, run in enumerate(runs):
        fill = {"good": OK_FILL, "failed": OUTAGE_FILL, "undecided": UNDECIDED_FILL}[run.standing]
        x = x_of(index) - side / 2
        edge = "" if run.verified else ' stroke="#000" stroke-width="2.5"'
        parts.append(
            f'<g class="dtr-night" data-bundle="{escape(run.name)}" '
            f'data-verified="{str(run.verified).lower()}">'
            f'<rect x="{x:.2f}" y="{TOP}" width="{side:.2f}" height="{STRIP_H}" '
            f'fill="{fill}"{edge}>'
            f"<title>{escape(_when(run))} UTC {escape(run.verdict or 'unreadable')} "
            f"({escape(run.integrity)})</title></rect>"
        )
        if not run.verified:
            parts.append(
                f'<text x="{x_of(index):.2f}" y="{TOP + STRIP_H - 3}" text-anchor="middle" '
                'font-weight="bold" fill="#fff">!</text>'
            )
        parts.append("</g>")
    latest = runs[-1] if runs else None
    if latest is not None:
        parts.append(
            f'<text x="{LABEL_W + PLOT_W + 6}" y="{TOP + STRIP_H - 4}">'
            f"{escape(latest.verdict or 'unreadable')}</text>"
        )

    def line(plot: _Plot, points: Sequence[float | None], colour: str, name: str) -> None:
        segment: list[str] = []
        segments: list[list[str]] = []
        for index, value in enumerate(points):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x_of(index):.2f},{plot.y_of(value):.2f}")
        if segment:
            segments.append(segment)
        for found in segments:
            if len(found) > 1:
                parts.append(
                    f'<polyline points="{" ".join(found)}" fill="none" stroke="{colour}" '
                    'stroke-width="1.5"/>'
                )
        for index, value in enumerate(points):
            if value is None:
                continue
            run = runs[index]
            hollow = "#fff" if not run.verified else colour
            parts.append(
                f'<circle class="dtr-point" cx="{x_of(index):.2f}" cy="{plot.y_of(value):.2f}" '
                f'r="3" fill="{hollow}" stroke="{colour}" stroke-width="1.5">'
                f"<title>{escape(_when(run))} UTC {escape(name)} {value:.2f} s"
                f"{'' if run.verified else ' (bundle does not verify)'}</title></circle>"
            )

    # The figures beside the panels are the latest bundle's that has figures (an unfinished
    # night has none).
    measured = next((run.summary for run in reversed(runs) if run.summary is not None), None)
    parts += outage_plot.axis("longest outage")
    line(outage_plot, outage, OUTAGE_FILL, "longest outage")
    if measured is not None:
        parts.append(
            f'<text x="{LABEL_W + PLOT_W + 6}" y="{outage_plot.top + PLOT_H / 2 + 4}">'
            f"{escape(_seconds(measured.longest_outage_s))}</text>"
        )
    parts += phase_plot.axis("phase times")
    for number, (name, points) in enumerate(phases.items()):
        colour = PHASE_COLOURS[name]
        line(phase_plot, points, colour, f"{name} phase")
        value = measured.phase_durations.get(name) if measured is not None else None
        parts.append(
            f'<text x="{LABEL_W + PLOT_W + 6}" y="{phase_plot.top + 12 + number * 14}" '
            f'fill="{colour}">{escape(name)} {escape(_seconds(value))}</text>'
        )

    every = max(1, -(-X_LABEL_W // int(slot or 1)))
    for index, run in enumerate(runs):
        if index % every:
            continue
        label = run.started_at.strftime("%m-%d") if run.started_at else "?"
        parts.append(
            f'<line x1="{x_of(index):.2f}" y1="{axis_y}" x2="{x_of(index):.2f}" '
            f'y2="{axis_y + 4}" stroke="#444"/>'
            f'<text x="{x_of(index):.2f}" y="{axis_y + 15}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<text x="{LABEL_W + PLOT_W / 2}" y="{axis_y + 28}" text-anchor="middle" fill="#444">'
        f"{_count(count, 'bundle')} by UTC start date, oldest left; an outlined square (!) "
        "and a hollow point: the bundle does not verify</text></svg>"
    )
    return "".join(parts)


# -- the page --------------------------------------------------------------------------------

STYLE: Final = """
body{font-family:sans-serif;font-size:14px;margin:16px 24px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:22px 0 6px}
.dtr-banner{padding:10px 16px;margin:8px 0 14px;border-radius:6px;color:#fff}
.dtr-banner.dtr-good{background:#1e7e34}.dtr-banner.dtr-bad{background:#b21f2d}
.dtr-banner a{color:#fff}
table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
.dtr-verdict{font-weight:bold;color:#fff;padding:1px 6px;border-radius:3px;white-space:nowrap}
.dtr-verdict.dtr-good{background:#1e7e34}.dtr-verdict.dtr-failed{background:#b21f2d}
.dtr-verdict.dtr-undecided{background:#6c6c6c}
tr.dtr-unverified td{background:#fdecea}
tr.dtr-unverified td.dtr-integrity{color:#b21f2d;font-weight:bold}
.dtr-flag{color:#b21f2d;font-weight:bold;font-size:12px;white-space:nowrap}
.dtr-integrity{max-width:18em}.dtr-when{white-space:nowrap}
.dtr-outages{margin:0;padding:0;list-style:none;font-size:12px}
.dtr-outages .dtr-down{color:#b21f2d}.dtr-quiet{color:#666;font-size:12px}
.dtr-failed-checks{font-family:monospace;font-size:12px}
.dtr-reason{color:#555;font-size:12px;max-width:24em;display:-webkit-box;-webkit-line-clamp:3;
-webkit-box-orient:vertical;overflow:hidden}
.dtr-nowrap,.dtr-outages li{white-space:nowrap}
table.dtr-runs{width:100%}
"""


def _href(page: Path, output: Path) -> str:
    relative = os.path.relpath(page.resolve(), output.resolve().parent)
    return quote(Path(relative).as_posix())


def _outage_cell(run: BundleRun) -> str:
    if run.summary is None:
        return '<td class="dtr-quiet">n/a</td>'
    outages = run.summary.endpoint_outages
    if not outages:
        return '<td class="dtr-quiet">not probed</td>'
    ranked = sorted(outages.items(), key=lambda item: (-item[1], item[0]))
    down = [
        f'<li class="dtr-down">{escape(name)}: <b>{value:.2f} s</b></li>'
        for name, value in ranked
        if value > 0
    ]
    quiet = len(ranked) - len(down)
    tail = (
        f'<li class="dtr-quiet">{quiet} endpoint{"s" if quiet != 1 else ""} without outage</li>'
        if quiet
        else ""
    )
    return f'<td><ul class="dtr-outages">{"".join(down)}{tail}</ul></td>'


def _row(run: BundleRun, output: Path) -> str:
    summary = run.summary
    if summary is not None:
        versions = f"{summary.from_version or '?'} &rarr; {summary.to_version or 'none'}"
        phases = "<br>".join(
            f"{escape(name)} {_seconds(summary.phase_durations.get(name))}"
            for name in PHASES
            if name in summary.phase_durations
        )
        failed = ", ".join(summary.failed_checks) or "none"
    else:
        versions, phases, failed = "", "", ""
    report = run.report
    link = (
        f'<a href="{_href(report, output)}" title="{escape(str(run.path))}">{escape(run.name)}</a>'
        if report is not None
        else f'{escape(run.name)} <span class="dtr-quiet">(no {REPORT_NAME})</span>'
    )
    marked = "" if run.verified else "DOES NOT VERIFY: "
    reason = run.problem or run.verdict_reason
    flag = "" if run.verified else ' <span class="dtr-flag">not verified</span>'
    return (
        f'<tr class="dtr-run dtr-{run.standing}{"" if run.verified else " dtr-unverified"}" '
        f'data-bundle="{escape(run.name)}">'
        f'<td class="dtr-when">{escape(_when(run))}</td>'
        f'<td><span class="dtr-verdict dtr-{run.standing}">'
        f"{escape(run.verdict or 'UNREADABLE')}</span>{flag}"
        f'<div class="dtr-reason" title="{escape(reason)}">{escape(reason)}</div></td>'
        f'<td class="dtr-nowrap">{versions}</td><td class="dtr-nowrap">{phases}</td>'
        f"{_outage_cell(run)}"
        f'<td class="dtr-failed-checks">{escape(failed)}</td>'
        f'<td class="dtr-integrity">{marked}{escape(run.integrity)}</td>'
        f"<td>{link}</td></tr>"
    )


def _anchor(target: str) -> str:
    return "target-" + re.sub(r"[^A-Za-z0-9_-]+", "-", target).strip("-")


def render(history: History, output: Path, *, now: datetime | None = None) -> str:
    """The history page (UTF-8 HTML) as it will be written to `output`, whose folder the
    links to each bundle's report.html are relative to."""
    now = now or datetime.now(UTC)
    grouped = history.by_target()
    unverified = history.unverified
    folders = ", ".join(str(folder) for folder in history.folders)
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        "<title>DTR upgrade history</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>DTR upgrade history</h1>",
        f"<p>{_count(len(history.runs), 'bundle')} of {_count(len(grouped), 'target')} under "
        f"{escape(folders)}; "
        f"read {now.strftime('%Y-%m-%d %H:%M')} UTC. Times are UTC.</p>",
    ]
    if unverified:
        names = ", ".join(
            f'<a href="#{_anchor(run.target)}">{escape(run.name)}</a>' for run in unverified
        )
        parts.append(
            f'<div class="dtr-banner dtr-bad" id="dtr-unverified">{len(unverified)} of '
            f"{len(history.runs)} bundles {'does' if len(unverified) == 1 else 'do'} not verify "
            f"against {SUMS_NAME}; the figures shown for "
            f"{'it' if len(unverified) == 1 else 'them'} cannot be trusted: {names}</div>"
        )
    else:
        parts.append(
            f'<div class="dtr-banner dtr-good" id="dtr-unverified">Every bundle verifies '
            f"against its {SUMS_NAME}.</div>"
        )
    parts.append(
        '<table id="dtr-targets"><tr><th>Target</th><th>Bundles</th><th>Latest</th>'
        "<th>Good</th><th>Failed</th><th>No verdict</th><th>Do not verify</th></tr>"
    )
    for target, runs in grouped.items():
        latest = runs[-1]
        counts = dict.fromkeys(("good", "failed", "undecided"), 0)
        for run in runs:
            counts[run.standing] += 1
        parts.append(
            f'<tr><td><a href="#{_anchor(target)}">{escape(target)}</a></td><td>{len(runs)}</td>'
            f'<td><span class="dtr-verdict dtr-{latest.standing}">'
            f"{escape(latest.verdict or 'UNREADABLE')}</span> {escape(_when(latest))}</td>"
            f"<td>{counts['good']}</td><td>{counts['failed']}</td><td>{counts['undecided']}</td>"
            f"<td>{sum(not run.verified for run in runs)}</td></tr>"
        )
    parts.append("</table>")
    for target, runs in grouped.items():
        parts.append(
            f'<section class="dtr-target" id="{_anchor(target)}" data-target="{escape(target)}">'
            f"<h2>{escape(target)}</h2>{trend_svg(runs)}"
            '<table class="dtr-runs"><tr><th>Started (UTC)</th><th>Verdict</th><th>Versions</th>'
            "<th>Phase times</th><th>Longest outage per endpoint</th><th>Failed checks</th>"
            f"<th>Integrity</th><th>Bundle</th></tr>"
        )
        parts += [_row(run, output) for run in reversed(runs)]
        parts.append("</table></section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_history(folders: Sequence[Path], output: Path) -> History:
    """Read every bundle under `folders` and write the history page to `output`."""
    history = read_history(folders)
    try:
        atomic_write(output, render(history, output).encode("utf-8"))
    except OSError as exc:
        raise HistoryError(f"{output}: cannot write the history page: {exc.strerror}") from None
    return history


def summary_lines(history: History, output: Path) -> list[str]:
    """What `dtr-upgrade history` prints: the page written, then each bundle that does not
    verify, one line each."""
    head = (
        f"{output}: {_count(len(history.runs), 'bundle')} of "
        f"{_count(len(history.by_target()), 'target')}"
    )
    if history.unverified:
        head += f"; {len(history.unverified)} do not verify"
    return [head] + [f"does not verify: {run.path}: {run.integrity}" for run in history.unverified]
