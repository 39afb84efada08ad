"""The report's HTML, built from typed inputs: the style, one check's expandable evidence and
its row's cells, the title, the environment table's rows and the verdict banner. The summary's
sections below the banner are `upgrade.evidence.html_summary`.

Every function is pure over the session record, the verdict and the settings: redaction comes in
as a `Scrub` and files are written through a callback, so nothing here knows pytest or the run
state. The pytest-html and pytest-metadata hooks that call these are `upgrade.plugin.report`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Final

from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, SessionRecord, iso
from upgrade.rules.verdict import Verdict

__all__ = [
    "INLINE_LIMIT",
    "OUTCOME_LABELS",
    "STYLE",
    "Provenance",
    "Scrub",
    "banner",
    "environment",
    "render_evidence",
    "row_cells",
    "title",
]

# Evidence items larger than this (pretty-printed) are written as bundle files and linked.
INLINE_LIMIT: Final = 16 * 1024

OUTCOME_LABELS: Final = {
    "passed": "Passed",
    "failed": "Failed",
    "skipped": "Skipped",
    "waived": "Waived",
    "error": "Error",
}

STYLE: Final = """
body{display:flex;flex-direction:column}
body>#title{order:-3}body>p{order:-2}body>.summary{order:-1}
.dtr-banner{padding:14px 18px;margin:8px 0 14px;border-radius:6px;color:#fff}
.dtr-banner.dtr-good{background:#1e7e34}.dtr-banner.dtr-bad{background:#b21f2d}
.dtr-verdict-word{font-size:30px;font-weight:bold;letter-spacing:1px}
.dtr-verdict-reason{font-size:16px;margin:6px 0}
.dtr-verdict-context{margin:4px 0;opacity:.95}
.dtr-tls-off{background:#fff3cd;color:#7a0000;font-weight:bold;padding:6px 10px;border-radius:4px}
.dtr-section{margin:14px 0}.dtr-section h3{margin:6px 0}
.dtr-section table{border-collapse:collapse}
.dtr-section td,.dtr-section th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.dtr-worse{color:#b21f2d;font-weight:bold}.dtr-better{color:#1e7e34}
.dtr-evidence details{margin:2px 0}.dtr-evidence summary{cursor:pointer;font-weight:bold}
.dtr-evidence pre{white-space:pre-wrap;margin:2px 0 6px 16px;max-height:30em;overflow:auto}
.dtr-message{font-weight:bold}.dtr-waiver{background:#fff3cd;padding:4px 8px}
.col-description{font-size:12px;max-width:32em}
.dtr-env-off{color:#b21f2d;font-weight:bold}
.logwrapper:not(:has(.log)){display:none}
"""


@dataclass(frozen=True)
class Scrub:
    """Redaction with the session's steps. `steps` is asked each time: the target's redactor
    learns tokens at run time."""

    steps: Callable[[], Sequence[Callable[[str], str]]]

    def text(self, value: str) -> str:
        """`value` with every known secret masked."""
        for step in self.steps():
            value = step(value)
        return value

    def data(self, value: Any) -> Any:
        """Nested data with every string masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "item"


def render_evidence(
    record: CheckRecord,
    scrub: Callable[[Any], Any],
    write_file: Callable[[str, str], str],
) -> str:
    """The expandable evidence of one check as HTML: message, notes, waiver, and one
    `<details>` per evidence item (JSON pretty-printed, text as text). An item larger than
    `INLINE_LIMIT` is written with `write_file(name, text)` and linked (its returned path)."""
    parts = ['<div class="dtr-evidence">']
    if record.message:
        parts.append(f'<p class="dtr-message">{escape(scrub(record.message))}</p>')
    if record.waiver:
        waiver = scrub(record.waiver)
        parts.append(
            f'<p class="dtr-waiver">Waived by {escape(str(waiver.get("approver", "")))} until '
            f"{escape(str(waiver.get('expires', '')))}: {escape(str(waiver.get('reason', '')))}"
            "</p>"
        )
    for note in record.notes:
        parts.append(f'<p class="dtr-note">Note: {escape(scrub(note))}</p>')
    for index, (name, value) in enumerate(record.evidence.items()):
        value = scrub(value)
        is_text = isinstance(value, str) and "\n" in value
        body = value if is_text else json.dumps(value, indent=2, ensure_ascii=False)
        label = escape(scrub(str(name)))
        if len(body) > INLINE_LIMIT:
            suffix = "txt" if is_text else "json"
            file_name = f"{_slug(record.check_id)}-{index}-{_slug(str(name))}.{suffix}"
            path = write_file(file_name, body)
            parts.append(
                f'<p class="dtr-evidence-file">{label}: {len(body) // 1024} KiB, in the bundle '
                f'as <a href="{escape(path)}">{escape(path)}</a></p>'
            )
            continue
        parts.append(
            f'<details class="dtr-evidence-item"><summary>{label}</summary>'
            f"<pre>{escape(body)}</pre></details>"
        )
    parts.append("</div>")
    return "".join(parts)


def title(settings: Settings, record: SessionRecord) -> str:
    """`DTR upgrade 2.5.11 -> 2.6.4 on dtr.example.com` (or health check)."""
    where = "the built-in lab" if settings.is_lab else (settings.target or "")
    if record.to_version:
        return f"DTR upgrade {record.from_version or '?'} -> {record.to_version} on {where}"
    return f"DTR health check of {where}" + (
        f" ({record.from_version})" if record.from_version else ""
    )


def _image(record: SessionRecord) -> tuple[str, str]:
    image = record.upgrade.image if record.upgrade is not None else None
    if image is not None and image.image:
        digest = image.digest or "not resolved"
        source = image.digest_source
        return image.image, digest + (f" ({source})" if source else "")
    if record.planned_image:
        return (
            f"{record.planned_image} (planned)",
            "not resolved: no upgrade ran in this session",
        )
    return "—", "—"


@dataclass(frozen=True)
class Provenance:
    """What ran the session, for the environment table: the harness's version and commit, the
    command line, the lab's DTR address when connected, and when the session finished."""

    version: str
    commit: str
    command: str
    lab_dtr_url: str | None
    finished_at: datetime | None
    python: str


def environment(
    settings: Settings, record: SessionRecord, provenance: Provenance, scrub: Scrub
) -> dict[str, str]:
    """The environment table's rows (HTML-escaped values; pytest-html shows them as HTML)."""
    s = settings
    ucp = s.ucp_url or record.ucp_url or "not read in this session"
    lab_url = provenance.lab_dtr_url
    dtr = "built-in lab" + (f" at {lab_url}" if lab_url is not None else "")
    image, digest = _image(record)
    rows = {
        "Change ID": s.change_id or "not given (--change-id)",
        "Operator": s.operator or "not given (--operator)",
        "Approver": s.approver or "not given (--approver)",
        "Target": dtr if s.is_lab else (s.target_url if s.target else "—"),
        "UCP": ucp,
        "TLS verification": "",
        "Mode": record.mode,
        "From version": record.from_version or "unknown",
        "To version": record.to_version or "— (health check)",
        "Bootstrapper image": image,
        "Bootstrapper digest": digest,
        "Harness version": provenance.version,
        "Harness commit": provenance.commit,
        "Python": provenance.python,
        "Started (UTC)": iso(record.started_at) or "—",
        "Finished (UTC)": iso(provenance.finished_at) or "—",
        "Command": provenance.command,
    }
    table = {key: escape(scrub.text(value)) for key, value in rows.items()}
    if s.insecure_tls:
        table["TLS verification"] = (
            '<span class="dtr-env-off">OFF (--insecure-tls): certificates NOT verified</span>'
        )
    else:
        table["TLS verification"] = "on (certificates verified)"
    return table


def banner(settings: Settings, record: SessionRecord, final: Verdict | None, scrub: Scrub) -> str:
    """The verdict, coloured, with the sentence that explains it and the checks' warnings."""
    word = final.word if final else "UNKNOWN"
    reason = final.reason if final else "the session ended before a verdict was decided"
    good = bool(final and final.good)
    s = settings
    context = [title(settings, record)]
    if s.change_id:
        context.append(f"change {s.change_id}")
    counts: dict[str, int] = {}
    for check in record.checks:
        counts[check.outcome] = counts.get(check.outcome, 0) + 1
    tally = ", ".join(f"{n} {OUTCOME_LABELS.get(k, k).lower()}" for k, n in sorted(counts.items()))
    parts = [
        f'<section id="dtr-verdict" class="dtr-banner {"dtr-good" if good else "dtr-bad"}" '
        f'data-verdict="{escape(word)}">',
        f'<div class="dtr-verdict-word">{escape(word)}</div>',
        f'<p class="dtr-verdict-reason">{escape(scrub.text(reason))}</p>',
        f'<p class="dtr-verdict-context">{escape(" · ".join(context))}'
        + (f" · checks: {escape(tally)}" if tally else "")
        + "</p>",
    ]
    warnings = [(c.check_id, note) for c in record.checks for note in c.notes]
    if warnings:
        # Shown under the verdict, not only in each check's collapsed row.
        parts.append(
            '<ul class="dtr-warnings">'
            + "".join(
                f"<li>WARNING {escape(check_id)}: {escape(scrub.text(note))}</li>"
                for check_id, note in warnings
            )
            + "</ul>"
        )
    if s.insecure_tls:
        parts.append(
            '<p class="dtr-tls-off">TLS verification was OFF for this session '
            "(--insecure-tls): the identity of DTR and UCP was not verified.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def row_cells(record: CheckRecord | None) -> list[str]:
    """The check ID, phase and description cells of one check's row (empty when the row is
    not a check's)."""
    if record is None:
        return ['<td class="col-checkId"></td>', '<td class="col-phase"></td>', "<td></td>"]
    description = " ".join(record.description.split())
    return [
        f'<td class="col-checkId">{escape(record.check_id)}</td>',
        f'<td class="col-phase">{escape(record.phase)}</td>',
        f'<td class="col-description">{escape(description)}</td>',
    ]
