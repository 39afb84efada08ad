"""The availability timeline: an inline SVG with one row per probed endpoint, outages marked.

Drawn from result.json's `availability` (`{"interval_s", "endpoints": {NAME: {"samples",
"longest_outage_s", "total_outage_s", "outages": [{"start", "end", "duration_s"}]}}}`): each
endpoint is a green bar over the probed span with a red block for every outage (never thinner
than a hairline, so a 0.1 s blip on a long upgrade stays visible, with its exact times in a
tooltip). The time axis reads UTC; phase boundaries are dashed vertical markers. Plain text
SVG with no script and no external reference, so it is safe inline in a self-contained report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Final

__all__ = ["Marker", "availability_svg", "parse_time", "probed_span", "tick_step"]

LABEL_W: Final = 250
PLOT_W: Final = 560
FIGURE_W: Final = 150
ROW_H: Final = 16
ROW_GAP: Final = 6
MARKER_LEVELS: Final = 3
LABEL_LINE: Final = 11
TOP: Final = 14 + MARKER_LEVELS * LABEL_LINE
# A marker label is assumed this wide when deciding whether two labels would overlap.
MARKER_LABEL_W: Final = 100
AXIS_H: Final = 34
MIN_BLOCK_W: Final = 1.5
MAX_TICKS: Final = 8
# Tick steps in seconds, from sub-second blips to a whole change window.
STEPS: Final = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

OK_FILL: Final = "#2e9e44"
OUTAGE_FILL: Final = "#d62728"
ONGOING_FILL: Final = "#7f0000"


@dataclass(frozen=True)
class Marker:
    """A labelled instant on the time axis (a phase starting or ending)."""

    at: datetime
    label: str


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from result.json's ISO 8601 form (`...Z`), or None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _outages(figures: Mapping[str, Any]) -> list[tuple[datetime, datetime, bool]]:
    found = []
    for outage in figures.get("outages") or []:
        start, end = parse_time(outage.get("start")), parse_time(outage.get("end"))
        if start is not None and end is not None:
            found.append((start, max(start, end), bool(outage.get("ongoing"))))
    return found


def probed_span(
    availability: Mapping[str, Any], fallback: tuple[datetime | None, datetime | None]
) -> tuple[datetime, datetime] | None:
    """The time the chart covers: the prober's own start/stop when recorded, else `fallback`
    (the upgrade phase), widened to include every outage; None when nothing says when."""
    start = parse_time(availability.get("started_at")) or fallback[0]
    end = parse_time(availability.get("stopped_at")) or fallback[1]
    moments = [m for m in (start, end) if m is not None]
    for figures in (availability.get("endpoints") or {}).values():
        for outage_start, outage_end, _ in _outages(figures or {}):
            moments += [outage_start, outage_end]
    if not moments:
        return None
    first, last = min(moments), max(moments)
    if last <= first:
        last = first + timedelta(seconds=1)
    return first, last


def tick_step(seconds: float, max_ticks: int = MAX_TICKS) -> float:
    """The smallest of `STEPS` that cuts `seconds` into at most `max_ticks` ticks (whole hours
    beyond the largest); the history's trend chart uses it for its y axes."""
    for step in STEPS:
        if seconds / step <= max_ticks:
            return step
    return float(math.ceil(seconds / max_ticks / 3600) * 3600)


def _clock(moment: datetime, step: float) -> str:
    text = moment.astimezone(UTC).strftime("%H:%M:%S")
    if step < 1:
        text += f".{moment.microsecond // 100000}"
    return text


def _seconds(value: object) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "n/a"


def availability_svg(
    availability: Mapping[str, Any],
    *,
    span: tuple[datetime, datetime] | None = None,
    markers: Sequence[Marker] = (),
) -> str:
    """The availability timeline as an inline `<svg>` element (UTF-8 text)."""
    endpoints: Mapping[str, Mapping[str, Any]] = availability.get("endpoints") or {}
    span = span or probed_span(availability, (None, None))
    width = LABEL_W + PLOT_W + FIGURE_W
    height = TOP + len(endpoints) * (ROW_H + ROW_GAP) + AXIS_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dtr-availability" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'font-family="sans-serif" font-size="11">',
        "<title>Availability of each probed endpoint during the upgrade (times in UTC)</title>",
        f'<text x="{LABEL_W + PLOT_W + 6}" y="{TOP - 4}" font-weight="bold">longest / total</text>',
    ]
    total_s = (span[1] - span[0]).total_seconds() if span else 0.0

    def x_of(moment: datetime) -> float:
        assert span is not None
        offset = (moment - span[0]).total_seconds() / total_s if total_s else 0.0
        return LABEL_W + max(0.0, min(1.0, offset)) * PLOT_W

    for row, (name, figures) in enumerate(endpoints.items()):
        y = TOP + row * (ROW_H + ROW_GAP)
        outages = _outages(figures)
        parts.append(
            f'<g class="dtr-endpoint" data-endpoint="{escape(name)}" data-outages="{len(outages)}">'
        )
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + ROW_H - 4}" text-anchor="end">{escape(name)}</text>'
        )
        parts.append(
            f'<rect x="{LABEL_W}" y="{y}" width="{PLOT_W}" height="{ROW_H}" fill="{OK_FILL}">'
            f"<title>{escape(name)}: {figures.get('samples', 0)} samples</title></rect>"
        )
        for start, end, ongoing in outages if span else []:
            left = x_of(start)
            block = max(MIN_BLOCK_W, x_of(end) - left)
            seconds = (end - start).total_seconds()
            state = " (still down when sampling stopped)" if ongoing else ""
            parts.append(
                f'<rect class="dtr-outage" x="{left:.2f}" y="{y}" width="{block:.2f}" '
                f'height="{ROW_H}" fill="{ONGOING_FILL if ongoing else OUTAGE_FILL}">'
                f"<title>{escape(name)} down {_clock(start, 0.1)} to {_clock(end, 0.1)} UTC "
                f"({seconds:.2f} s){state}</title></rect>"
            )
        figure = (
            f"{_seconds(figures.get('longest_outage_s'))} / "
            f"{_seconds(figures.get('total_outage_s'))}"
        )
        parts.append(
            f'<text x="{LABEL_W + PLOT_W + 6}" y="{y + ROW_H - 4}">{escape(figure)}</text></g>'
        )

    axis_y = TOP + len(endpoints) * (ROW_H + ROW_GAP)
    parts.append(
        f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + PLOT_W}" y2="{axis_y}" stroke="#444"/>'
    )
    if span is not None:
        step = tick_step(total_s)
        first = math.ceil(span[0].timestamp() / step) * step
        tick = first
        while tick <= span[1].timestamp() + 1e-9:
            moment = datetime.fromtimestamp(tick, UTC)
            x = x_of(moment)
            parts.append(
                f'<line x1="{x:.2f}" y1="{axis_y}" x2="{x:.2f}" y2="{axis_y + 4}" stroke="#444"/>'
                f'<text x="{x:.2f}" y="{axis_y + 15}" text-anchor="middle">'
                f"{_clock(moment, step)}</text>"
            )
            tick += step
        shown = sorted((m for m in markers if span[0] <= m.at <= span[1]), key=lambda m: m.at)
        level_end = [float("-inf")] * MARKER_LEVELS
        for number, marker in enumerate(shown):
            x = x_of(marker.at)
            # the first level where the label does not run into the previous one
            level = next((n for n, end in enumerate(level_end) if x >= end), number % MARKER_LEVELS)
            level_end[level] = x + MARKER_LABEL_W
            right = x > LABEL_W + PLOT_W - MARKER_LABEL_W
            anchor = ' text-anchor="end"' if right else ""
            label_x = x - 2 if right else x + 2
            parts.append(
                f'<g class="dtr-marker"><line x1="{x:.2f}" y1="{4 + level * LABEL_LINE}" '
                f'x2="{x:.2f}" y2="{axis_y}" stroke="#333" stroke-dasharray="3,2"/>'
                f'<text x="{label_x:.2f}" y="{12 + level * LABEL_LINE}" font-size="10"{anchor}>'
                f"{escape(marker.label)}</text></g>"
            )
        caption = (
            f"UTC, {_clock(span[0], 1)} to {_clock(span[1], 1)} on "
            f"{span[0].strftime('%Y-%m-%d')} ({total_s:.1f} s)"
        )
    else:
        caption = "no time recorded for the probed span"
    parts.append(
        f'<text x="{LABEL_W + PLOT_W / 2}" y="{axis_y + 30}" text-anchor="middle" '
        f'fill="#444">{escape(caption)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
