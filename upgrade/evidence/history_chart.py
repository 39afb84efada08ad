"""The history page's trend chart: one target's nights as an inline SVG.

A verdict strip (one square per bundle, outlined black and marked `!` when it does not
verify), the longest outage and the phase times, each bundle at its own place on the x axis,
oldest left; drawn like the report's availability chart (chart.py) and as safe inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

from upgrade.evidence.chart import LABEL_W, OK_FILL, OUTAGE_FILL, PLOT_W, tick_step
from upgrade.evidence.history import PHASES, BundleRun

__all__ = ["plural", "seconds_text", "trend_svg", "when_text"]

PHASE_COLOURS: Final = {"preflight": "#1f77b4", "upgrade": "#ff7f0e", "post": "#9467bd"}
UNDECIDED_FILL: Final = "#8a8a8a"

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


def plural(number: int, noun: str) -> str:
    """`1 bundle`, `2 bundles`."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def seconds_text(value: float | None) -> str:
    """A duration as the history shows it, `n/a` when there is none."""
    return "n/a" if value is None else f"{value:.2f} s"


def when_text(run: BundleRun) -> str:
    """When a bundle's session started, to the minute (UTC)."""
    return run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "time unknown"


class _Plot:
    """One panel of the trend chart: a y axis in seconds and one line per series."""

    def __init__(self, top: float, series: Mapping[str, Sequence[float | None]]) -> None:
        values = [v for points in series.values() for v in points if v is not None]
        self.top = top
        self.step = float(tick_step(max(values, default=0.0) or 1.0, MAX_Y_TICKS))
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
            f"<title>{escape(when_text(run))} UTC {escape(run.verdict or 'unreadable')} "
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
                f"<title>{escape(when_text(run))} UTC {escape(name)} {value:.2f} s"
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
            f"{escape(seconds_text(measured.longest_outage_s))}</text>"
        )
    parts += phase_plot.axis("phase times")
    for number, (name, points) in enumerate(phases.items()):
        colour = PHASE_COLOURS[name]
        line(phase_plot, points, colour, f"{name} phase")
        value = measured.phase_durations.get(name) if measured is not None else None
        parts.append(
            f'<text x="{LABEL_W + PLOT_W + 6}" y="{phase_plot.top + 12 + number * 14}" '
            f'fill="{colour}">{escape(name)} {escape(seconds_text(value))}</text>'
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
        f"{plural(count, 'bundle')} by UTC start date, oldest left; an outlined square (!) "
        "and a hollow point: the bundle does not verify</text></svg>"
    )
    return "".join(parts)
