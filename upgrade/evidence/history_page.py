"""The history page: per target a trend chart and a table, newest night first, of the
verdict, the phase times, the longest outage of each probed endpoint and the failed check IDs,
with a relative link to each bundle's report.html; one self-contained HTML file."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Final
from urllib.parse import quote

from upgrade.evidence.files import atomic_write
from upgrade.evidence.history import (
    PHASES,
    REPORT_NAME,
    BundleRun,
    History,
    HistoryError,
    read_history,
)
from upgrade.evidence.history_chart import plural, seconds_text, trend_svg, when_text
from upgrade.evidence.integrity import SUMS_NAME

__all__ = ["HISTORY_NAME", "render", "summary_lines", "write_history"]

HISTORY_NAME: Final = "history.html"

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
            f"{escape(name)} {seconds_text(summary.phase_durations.get(name))}"
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
        f'<td class="dtr-when">{escape(when_text(run))}</td>'
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
        f"<p>{plural(len(history.runs), 'bundle')} of {plural(len(grouped), 'target')} under "
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
            f"{escape(latest.verdict or 'UNREADABLE')}</span> {escape(when_text(latest))}</td>"
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
        f"{output}: {plural(len(history.runs), 'bundle')} of "
        f"{plural(len(history.by_target()), 'target')}"
    )
    if history.unverified:
        head += f"; {len(history.unverified)} do not verify"
    return [head] + [f"does not verify: {run.path}: {run.integrity}" for run in history.unverified]
