"""The availability timeline SVG, drawn from result.json's `availability`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from upgrade.evidence.chart import PLOT_W, Marker, availability_svg, probed_span

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 27, 22, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    moment = T0 + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def availability() -> dict[str, Any]:
    return {
        "interval_s": 0.1,
        "endpoints": {
            "lb /_ping (fresh)": {
                "samples": 600,
                "longest_outage_s": 1.2,
                "total_outage_s": 1.5,
                "outages": [
                    {"start": at(10), "end": at(11.2), "duration_s": 1.2},
                    {"start": at(40), "end": at(40.3), "duration_s": 0.3},
                ],
            },
            "replica 5eb9459a7832 /_ping (fresh)": {
                "samples": 600,
                "longest_outage_s": 0.05,
                "total_outage_s": 0.05,
                "outages": [{"start": at(20), "end": at(20.05), "duration_s": 0.05}],
            },
            "lb /v2/ (keep-alive)": {
                "samples": 600,
                "longest_outage_s": 0.0,
                "total_outage_s": 0.0,
                "outages": [],
            },
        },
    }


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (the harness's own output)


def outages_of(root: ET.Element) -> dict[str, list[ET.Element]]:
    rows = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "dtr-endpoint":
            rows[group.get("data-endpoint") or ""] = [
                rect for rect in group.iter(f"{SVG}rect") if rect.get("class") == "dtr-outage"
            ]
    return rows


def test_one_row_per_endpoint_with_each_outage_marked() -> None:
    svg = availability_svg(availability(), span=(T0, T0 + timedelta(seconds=60)))
    root = parse(svg)
    rows = outages_of(root)
    assert list(rows) == [
        "lb /_ping (fresh)",
        "replica 5eb9459a7832 /_ping (fresh)",
        "lb /v2/ (keep-alive)",
    ]
    assert [len(r) for r in rows.values()] == [2, 1, 0]
    first = rows["lb /_ping (fresh)"][0]
    # 1.2 s of 60 s on the plot's width, placed at 10 s
    assert abs(float(first.get("width") or 0) - PLOT_W * 1.2 / 60) < 0.01
    title = first.find(f"{SVG}title")
    assert title is not None
    assert title.text == "lb /_ping (fresh) down 22:00:10.0 to 22:00:11.2 UTC (1.20 s)"


def test_a_blip_much_shorter_than_a_pixel_stays_visible() -> None:
    svg = availability_svg(availability(), span=(T0, T0 + timedelta(hours=1)))
    blip = outages_of(parse(svg))["replica 5eb9459a7832 /_ping (fresh)"][0]
    assert float(blip.get("width") or 0) >= 1.5


def test_time_axis_is_utc_and_phase_markers_are_drawn() -> None:
    markers = [Marker(T0 + timedelta(seconds=5), "upgrade starts"), Marker(T0, "outside")]
    svg = availability_svg(
        availability(),
        span=(T0 + timedelta(seconds=1), T0 + timedelta(seconds=61)),
        markers=markers,
    )
    root = parse(svg)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "22:00:10" in texts
    assert "22:01:00" in texts
    assert "upgrade starts" in texts
    assert "outside" not in texts  # before the span: not drawn
    assert any(t.startswith("UTC, 22:00:01 to 22:01:01 on 2026-11-27") for t in texts)


def test_span_falls_back_to_the_phase_and_widens_to_every_outage() -> None:
    data = availability()
    span = probed_span(data, (T0 + timedelta(seconds=15), T0 + timedelta(seconds=30)))
    assert span == (T0 + timedelta(seconds=10), T0 + timedelta(seconds=40.3))
    data["started_at"] = at(0)
    data["stopped_at"] = at(90)
    assert probed_span(data, (None, None)) == (T0, T0 + timedelta(seconds=90))


def test_no_time_known_still_draws_the_rows() -> None:
    data = {"interval_s": 0.1, "endpoints": {"lb /_ping (fresh)": {"samples": 0, "outages": []}}}
    root = parse(availability_svg(data))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "no time recorded for the probed span" in texts
    assert "lb /_ping (fresh)" in texts


def test_names_are_escaped() -> None:
    data = {"endpoints": {'<script>alert("x")</script>': {"samples": 1, "outages": []}}}
    svg = availability_svg(data)
    assert "<script>" not in svg
    parse(svg)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 3600), st.floats(0, 120)),
        max_size=12,
    ),
    st.floats(1, 7200),
)
def test_any_outages_give_a_valid_svg_within_the_plot(
    outages: list[tuple[float, float]], length: float
) -> None:
    data = {
        "endpoints": {
            "lb /_ping (fresh)": {
                "samples": 10,
                "outages": [{"start": at(s), "end": at(s + d)} for s, d in outages],
            }
        }
    }
    span = probed_span(data, (T0, T0 + timedelta(seconds=length)))
    assert span is not None
    root = parse(availability_svg(data, span=span))
    rects = outages_of(root)["lb /_ping (fresh)"]
    assert len(rects) == len(outages)
    for rect in rects:
        x = float(rect.get("x") or 0)
        width = float(rect.get("width") or 0)
        assert 250 <= x <= 250 + PLOT_W + 0.01
        assert x + width <= 250 + PLOT_W + 1.51
