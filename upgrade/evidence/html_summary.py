"""The report summary's sections below the verdict banner, as HTML built from typed inputs: the
checks that did not run, the waivers, the phase timings and upgrade attempts, the availability
chart with its markers, the comparison with an earlier bundle, and how to check the bundle's
integrity. Pure over the session record and settings values; redaction comes in as a
`upgrade.evidence.html.Scrub`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from upgrade.evidence import chart, compare, signing
from upgrade.evidence.html import Scrub
from upgrade.evidence.records import SessionRecord, iso
from upgrade.rules.verdict import NOT_RUN, NOT_RUN_LABELS

__all__ = [
    "availability",
    "comparison",
    "integrity_section",
    "markers",
    "not_run",
    "phases",
    "waivers",
]


def _utc(value: object) -> str:
    return iso(chart.parse_time(value)) or "—"


def _seconds(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f} s"
    return "—"


def integrity_section(sign_key: Path | None) -> str:
    """How the reader checks that nobody edited the bundle after the session."""
    signed = (
        f"SHA256SUMS is signed with the SSH key {escape(str(sign_key))} (namespace "
        f"{signing.NAMESPACE}) into SHA256SUMS.sig; "
        "check with <code>dtr-upgrade verify-bundle DIR --public-key KEY.pub</code> or "
        "<code>ssh-keygen -Y verify</code>."
        if sign_key is not None
        else "The bundle is not signed (--sign-key was not given)."
    )
    return (
        '<div class="dtr-section" id="dtr-integrity"><h3>Integrity</h3>'
        "<p>After this report was written, every file of the bundle was scrubbed of known "
        "secrets and listed with its SHA-256 in SHA256SUMS (<code>sha256sum -c "
        "SHA256SUMS</code> or <code>dtr-upgrade verify-bundle DIR</code> recompute it). "
        f"{signed}</p></div>"
    )


def not_run(record: SessionRecord, scrub: Scrub) -> str:
    """The checks that did not run (deselected, never started, interrupted): pytest-html
    shows only what ran, and a verdict is only as good as what is missing from it."""
    rows = [c for c in record.checks if c.outcome in NOT_RUN]
    errors = record.collection_errors
    if not rows and not errors:
        return ""
    out = [
        '<div class="dtr-section" id="dtr-not-run"><h3>Checks that did not run</h3>'
        "<table><tr><th>Check</th><th>Phase</th><th>Why</th><th>Item</th></tr>"
    ]
    for check in rows:
        out.append(
            f"<tr><td>{escape(check.check_id)}</td><td>{escape(check.phase)}</td>"
            f"<td>{escape(NOT_RUN_LABELS[check.outcome])}</td>"
            f"<td>{escape(check.nodeid)}</td></tr>"
        )
    for error in errors:
        out.append(
            f"<tr><td>—</td><td>—</td><td>failed to collect: "
            f"{escape(scrub.text(error.get('message', '')))}</td>"
            f"<td>{escape(error.get('nodeid', ''))}</td></tr>"
        )
    out.append("</table></div>")
    return "".join(out)


def waivers(record: SessionRecord, scrub: Scrub) -> str:
    """The waivers applied (reason, approver, expiry) and those ignored as expired."""
    rows = [
        (c.check_id, scrub.data(c.waiver), c.message) for c in record.checks if c.waiver is not None
    ]
    expired = scrub.data(record.waivers_expired)
    if not rows and not expired:
        return ""
    out = ['<div class="dtr-section" id="dtr-waivers"><h3>Waivers</h3>']
    if rows:
        out.append(
            "<table><tr><th>Check</th><th>Reason</th><th>Approver</th><th>Expires</th>"
            "<th>Failure waived</th></tr>"
        )
        for check_id, waiver, message in rows:
            out.append(
                f"<tr><td>{escape(check_id)}</td><td>{escape(str(waiver.get('reason')))}</td>"
                f"<td>{escape(str(waiver.get('approver')))}</td>"
                f"<td>{escape(str(waiver.get('expires')))}</td>"
                f"<td>{escape(scrub.text(message))}</td></tr>"
            )
        out.append("</table>")
    for waiver in expired:
        out.append(
            f"<p>Ignored, expired: {escape(str(waiver.get('check')))} "
            f"(approved by {escape(str(waiver.get('approver')))}, expired "
            f"{escape(str(waiver.get('expires')))}).</p>"
        )
    out.append("</div>")
    return "".join(out)


def phases(record: SessionRecord, scrub: Scrub) -> str:
    """Each phase's start, end and duration (UTC), and the upgrade's attempts."""
    if not record.phases:
        return ""
    out = [
        '<div class="dtr-section" id="dtr-phases"><h3>Phase timings (UTC)</h3><table>'
        "<tr><th>Phase</th><th>Started</th><th>Finished</th><th>Duration</th></tr>"
    ]
    for name, entry in record.phases.items():
        out.append(
            f"<tr><td>{escape(name)}</td><td>{_utc(entry.get('started_at'))}</td>"
            f"<td>{_utc(entry.get('finished_at'))}</td>"
            f"<td>{_seconds(entry.get('duration_s'))}</td></tr>"
        )
    out.append("</table>")
    upgrade = record.upgrade
    for hop in upgrade.hops if upgrade is not None else ():
        detail = "; ".join(
            f"attempt {n}: exit {a.exit_code} after {_seconds(a.duration_s)}"
            + (" (timed out)" if a.timed_out else "")
            + (" (interrupted)" if a.interrupted else "")
            for n, a in enumerate(hop.attempts, start=1)
        )
        image = hop.image.image if hop.image is not None else None
        out.append(
            f"<p>Hop {escape(hop.from_version)} → {escape(hop.to_version)} with "
            f"{escape(str(image))}: {escape(detail) or 'no attempt'}</p>"
        )
    if upgrade is not None:
        out.append(
            f"<p>Upgrade {escape(upgrade.state)} in "
            f"{_seconds(round(upgrade.duration_s, 3))}: "
            f"{escape(scrub.text(upgrade.message))}</p>"
        )
    out.append("</div>")
    return "".join(out)


def markers(record: SessionRecord) -> list[chart.Marker]:
    """Phase boundaries and bootstrapper attempts, for the chart's time axis."""
    found = []
    for name, entry in record.phases.items():
        if name == "preflight":
            continue
        start = chart.parse_time(entry.get("started_at"))
        if start is not None:
            found.append(chart.Marker(start, f"{name} starts"))
    upgrade = record.upgrade
    for hop in upgrade.hops if upgrade is not None else ():
        for n, attempt in enumerate(hop.attempts, start=1):
            start = chart.parse_time(attempt.started_at)
            if start is not None:
                found.append(chart.Marker(start, f"{hop.to_version} attempt {n}"))
    return found


def availability(record: SessionRecord, scrub: Scrub) -> str:
    """The availability chart of the upgrade phase, with the measured outages."""
    measured = record.availability
    if measured is None or not measured.endpoints:
        return ""
    data = scrub.data(measured.as_dict())
    upgrade_phase = record.phases.get("upgrade") or {}
    span = chart.probed_span(
        data,
        (
            chart.parse_time(upgrade_phase.get("started_at")),
            chart.parse_time(upgrade_phase.get("finished_at")),
        ),
    )
    svg = chart.availability_svg(data, span=span, markers=markers(record))
    interval = measured.interval_s
    return (
        '<div class="dtr-section" id="dtr-availability"><h3>Availability during the upgrade'
        "</h3>"
        f"<p>Every endpoint sampled every {escape(str(interval))} s; red marks an outage "
        "(hover for its times).</p>"
        f"{svg}</div>"
    )


def _figure_row(label: str, figure: compare.Figure) -> str:
    delta = figure.delta_s
    css = ""
    if delta:
        css = ' class="dtr-worse"' if delta > 0 else ' class="dtr-better"'
    shown = f"{delta:+.2f} s" if delta is not None else "—"
    return (
        f"<tr><td>{escape(label)}</td><td>{_seconds(figure.previous_s)}</td>"
        f"<td>{_seconds(figure.current_s)}</td><td{css}>{shown}</td></tr>"
    )


def comparison(data: compare.Comparison | None) -> str:
    """This run beside the earlier bundle given by --compare-with."""
    if data is None:
        return ""
    out = ['<div class="dtr-section" id="dtr-comparison"><h3>Comparison</h3>']
    previous, current = data.previous, data.current
    if previous is None or current is None:
        out.append(f"<p>{escape(data.note)}</p></div>")
        return "".join(out)
    out.append(
        f"<p>Earlier bundle {escape(previous.bundle)} (started "
        f"{escape(str(previous.started_at))}), "
        f"{escape(data.previous_integrity)}.</p>"
    )
    out.append(
        "<table><tr><th></th><th>Earlier</th><th>This run</th><th>Change</th></tr>"
        f"<tr><td>Verdict</td><td>{escape(previous.verdict)}</td>"
        f"<td>{escape(current.verdict)}</td><td></td></tr>"
    )
    for name, figure in data.phases.items():
        out.append(_figure_row(f"{name} phase", figure))
    out.append(_figure_row("longest outage", data.longest_outage))
    failed = data.failed_checks
    out.append(
        f"<tr><td>Failed checks</td><td>{escape(', '.join(sorted(failed.previous)) or 'none')}"
        f"</td><td>{escape(', '.join(sorted(failed.current)) or 'none')}</td>"
        f"<td>new: {escape(', '.join(failed.new) or 'none')}; fixed: "
        f"{escape(', '.join(failed.fixed) or 'none')}</td></tr></table></div>"
    )
    return "".join(out)
