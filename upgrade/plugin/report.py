"""The HTML report of the evidence bundle, through pytest-html's public hooks and pytest-metadata.

`ReportPlugin` is registered by the harness when a session has a target. It points pytest-html
(self-contained) and junitxml at the bundle folder, adds the check ID, phase and description
columns, puts each check's evidence into its expandable row (pretty JSON; large items written
as files of the bundle and linked), fills the environment table (change, people, target,
versions, bootstrapper image and digest, harness version and commit, times in UTC; TLS
verification off shown in red), and writes the verdict banner, waivers, phase timings, the
availability chart and the comparison with an earlier bundle into the summary.

Sealing the bundle (redaction pass, `SHA256SUMS`, the optional signature) is
`upgrade.evidence.bundle.seal`, called by the run state once the report is written.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shlex
import subprocess
from collections.abc import Callable, Generator, Mapping
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from upgrade.evidence import chart, compare, integrity
from upgrade.evidence.bundle import EVIDENCE_DIR, JUNIT_NAME, REPORT_NAME, UPGRADE_LOG
from upgrade.evidence.files import atomic_write
from upgrade.evidence.records import CheckRecord, iso, utc_now
from upgrade.rules.verdict import NOT_RUN, NOT_RUN_LABELS

if TYPE_CHECKING:
    from upgrade.plugin.harness import Harness

__all__ = ["ReportPlugin", "render_evidence"]

# Evidence items larger than this (pretty-printed) are written as bundle files and linked.
INLINE_LIMIT: Final = 16 * 1024
DISTRIBUTION: Final = "dtr-upgrade-harness"
GIT_TIMEOUT_S: Final = 5.0

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


class _Scrubber:
    """Redacts with the session's redaction steps (the target's redactor when connected, and
    the environment's secrets)."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def steps(self) -> list[Callable[[str], str]]:
        """Every redaction step, target first (it knows tokens learnt at run time)."""
        return self.harness.redaction_steps()

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


def _harness_commit() -> str:
    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],  # noqa: S607 (git from PATH)
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if head.returncode != 0:
            return "not a git checkout"
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git did not answer)"
    commit = head.stdout.strip()
    return commit + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _harness_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "not installed as a distribution"


def _utc(value: object) -> str:
    return iso(chart.parse_time(value)) or "—"


def _seconds(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f} s"
    return "—"


class ReportPlugin:
    """pytest-html and pytest-metadata hooks that turn one harness session into its report."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.scrub = _Scrubber(harness)
        self.previous: Path | None = None
        self.finished_at: datetime | None = None
        self.version = _harness_version()
        self.commit = _harness_commit()
        self._title_report: Any = None

    # -- configuration ------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        """Point pytest-html (self-contained) and junitxml into the bundle; check the signing
        key and the bundle to compare with before anything runs."""
        bundle = self.harness.bundle
        if not self.harness.collect_only:
            # What the user asked for (--html, --junitxml) is written there too, from the sealed
            # bundle: a CI job reading results.xml finds it where its own configuration says.
            for name, asked in (
                (REPORT_NAME, config.option.htmlpath),
                (JUNIT_NAME, config.option.xmlpath),
            ):
                if asked:
                    self.harness.copies[name] = config.invocation_params.dir / asked
            config.option.htmlpath = str(bundle.file(REPORT_NAME))
            config.option.self_contained_html = True
            config.option.xmlpath = str(bundle.file(JUNIT_NAME))
        settings = self.harness.settings
        if settings.sign_key is not None:
            try:
                integrity.check_sign_key(settings.sign_key)
            except integrity.SigningError as exc:
                raise pytest.UsageError(str(exc)) from None
        if settings.compare_with is not None:
            try:
                self.previous = compare.resolve_previous(settings.compare_with, settings.report_dir)
            except compare.CompareError as exc:
                raise pytest.UsageError(str(exc)) from None

    # -- per check ----------------------------------------------------------------------------

    def _write_evidence_file(self, name: str, text: str) -> str:
        folder = self.harness.bundle.file(EVIDENCE_DIR)
        try:
            folder.mkdir(exist_ok=True)
            atomic_write(folder / name, self.scrub.text(text).encode("utf-8"))
        except OSError as exc:
            # Named among the bundle's problems; the check's outcome stays what it was.
            self.harness.bundle_problem(exc)
        return f"{EVIDENCE_DIR}/{name}"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Attach the check's evidence to its call report (or to a setup that did not pass)."""
        report = yield
        record = self.harness.records.get(item.nodeid)
        if record is None or not (report.when == "call" or not report.passed):
            return report
        if report.when == "teardown":
            return report
        from pytest_html import extras

        added: list[dict[str, Any]] = []
        if record.evidence or record.message or record.notes or record.waiver:
            html = render_evidence(record, self.scrub.data, self._write_evidence_file)
            added.append(extras.html(html))
        if record.phase == "upgrade" and self.harness.bundle.file(UPGRADE_LOG).exists():
            added.append(extras.url(UPGRADE_LOG, name=UPGRADE_LOG))
        if added:
            # pytest-html's documented way: a list of extras on the report object
            setattr(report, "extras", [*getattr(report, "extras", []), *added])  # noqa: B010
        return report

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """Drop pytest-html's "No log output captured." box, and the raw skip tuple of a skipped
        check (its reason is already the row's first line): neither tells the reader anything."""
        if data == ["No log output captured."] or (
            report.skipped and not hasattr(report, "wasxfail")
        ):
            data.clear()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        """Title: what was checked, where, from which version to which."""
        self._title_report = report
        report.title = self.title()

    def title(self) -> str:
        """`DTR upgrade 2.5.11 -> 2.6.4 on dtr.example.com` (or health check)."""
        s = self.harness.settings
        record = self.harness.session_record
        where = "the built-in lab" if s.is_lab else (s.target or "")
        if record.to_version:
            return f"DTR upgrade {record.from_version or '?'} -> {record.to_version} on {where}"
        return f"DTR health check of {where}" + (
            f" ({record.from_version})" if record.from_version else ""
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        """Check ID, phase and description columns after the result."""
        cells[1:1] = [
            '<th class="sortable" data-column-type="checkId">Check ID</th>',
            '<th class="sortable" data-column-type="phase">Phase</th>',
            "<th>Description</th>",
        ]

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """The check's ID, phase and docstring; the harness's outcome (Waived) as the result."""
        if not cells:  # another plugin removed the row
            return
        record = self.harness.records.get(report.nodeid)
        if record is None:
            cells[1:1] = [
                '<td class="col-checkId"></td>',
                '<td class="col-phase"></td>',
                "<td></td>",
            ]
            return
        description = " ".join(record.description.split())
        cells[1:1] = [
            f'<td class="col-checkId">{escape(record.check_id)}</td>',
            f'<td class="col-phase">{escape(record.phase)}</td>',
            f'<td class="col-description">{escape(description)}</td>',
        ]
        if record.outcome in ("waived", "error") and cells[0].startswith('<td class="col-result">'):
            cells[0] = f'<td class="col-result">{OUTCOME_LABELS[record.outcome]}</td>'

    # -- end of session -----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        """Before the reports are written: the comparison and the environment table. Around
        pytest-html's and junitxml's writing, innermost: a write failure (a full disk) is
        recorded as a bundle problem, so the terminal summary, result.json and the seal that
        follow still happen."""
        self.finished_at = utc_now()
        self._compare()
        self._environment_table(session.config)
        try:
            return (yield)
        except OSError as exc:
            self.harness.bundle_problem(exc)
            return None

    def _environment_table(self, config: pytest.Config) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:  # pytest-metadata is a dependency; without it there is no table
            return
        metadata = config.stash.get(metadata_key, None)
        if metadata is None:
            return
        ours = self.environment(config)
        rest = {k: self.scrub.data(v) for k, v in metadata.items() if k not in ours}
        metadata.clear()
        metadata.update(ours)
        metadata.update(rest)

    def _compare(self) -> None:
        spec = self.harness.settings.compare_with
        if spec is None:
            return
        record = self.harness.session_record
        current = record.as_dict()
        current["verdict"] = self.harness.final.word if self.harness.final else ""
        summary = compare.summarise(current, "this run")
        if self.previous is None:
            record.comparison = compare.Comparison.unavailable(f"no earlier bundle for {spec!r}")
            return
        try:
            previous, state = compare.load_previous(self.previous)
        except compare.CompareError as exc:
            record.comparison = compare.Comparison.unavailable(str(exc))
        else:
            record.comparison = compare.compare(previous, summary, integrity=state)

    def _image(self) -> tuple[str, str]:
        record = self.harness.session_record
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

    def environment(self, config: pytest.Config) -> dict[str, str]:
        """The environment table's rows (HTML-escaped values; pytest-html shows them as HTML)."""
        s = self.harness.settings
        record = self.harness.session_record
        target = self.harness.connected_target
        ucp = s.ucp_url or record.ucp_url or "not read in this session"
        dtr = "built-in lab" + (f" at {target.dtr_url}" if target is not None else "")
        image, digest = self._image()
        command = shlex.join(["pytest", *config.invocation_params.args])
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
            "Harness version": self.version,
            "Harness commit": self.commit,
            "Python": platform.python_version(),
            "Started (UTC)": iso(record.started_at) or "—",
            "Finished (UTC)": iso(self.finished_at) or "—",
            "Command": command,
        }
        table = {key: escape(self.scrub.text(value)) for key, value in rows.items()}
        if s.insecure_tls:
            table["TLS verification"] = (
                '<span class="dtr-env-off">OFF (--insecure-tls): certificates NOT verified</span>'
            )
        else:
            table["TLS verification"] = "on (certificates verified)"
        return table

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        """The verdict banner first; then waivers, phase timings, availability, comparison."""
        if self._title_report is not None:
            self._title_report.title = self.title()
        prefix.insert(0, f"<style>{STYLE}</style>" + self.banner())
        sections = (
            self.not_run(),
            self.waivers(),
            self.phases(),
            self.availability(),
            self.comparison_html(),
            self.integrity_html(),
        )
        for section in sections:
            if section:
                postfix.append(section)

    def integrity_html(self) -> str:
        """How the reader checks that nobody edited the bundle after the session."""
        key = self.harness.settings.sign_key
        signed = (
            f"SHA256SUMS is signed with the SSH key {escape(str(key))} (namespace "
            f"{integrity.NAMESPACE}) into SHA256SUMS.sig; "
            "check with <code>dtr-upgrade verify-bundle DIR --public-key KEY.pub</code> or "
            "<code>ssh-keygen -Y verify</code>."
            if key is not None
            else "The bundle is not signed (--sign-key was not given)."
        )
        return (
            '<div class="dtr-section" id="dtr-integrity"><h3>Integrity</h3>'
            "<p>After this report was written, every file of the bundle was scrubbed of known "
            "secrets and listed with its SHA-256 in SHA256SUMS (<code>sha256sum -c "
            "SHA256SUMS</code> or <code>dtr-upgrade verify-bundle DIR</code> recompute it). "
            f"{signed}</p></div>"
        )

    def banner(self) -> str:
        """The verdict, coloured, with the sentence that explains it."""
        final = self.harness.final
        record = self.harness.session_record
        word = final.word if final else "UNKNOWN"
        reason = final.reason if final else "the session ended before a verdict was decided"
        good = bool(final and final.good)
        s = self.harness.settings
        context = [self.title()]
        if s.change_id:
            context.append(f"change {s.change_id}")
        counts: dict[str, int] = {}
        for check in record.checks:
            counts[check.outcome] = counts.get(check.outcome, 0) + 1
        tally = ", ".join(
            f"{n} {OUTCOME_LABELS.get(k, k).lower()}" for k, n in sorted(counts.items())
        )
        parts = [
            f'<section id="dtr-verdict" class="dtr-banner {"dtr-good" if good else "dtr-bad"}" '
            f'data-verdict="{escape(word)}">',
            f'<div class="dtr-verdict-word">{escape(word)}</div>',
            f'<p class="dtr-verdict-reason">{escape(self.scrub.text(reason))}</p>',
            f'<p class="dtr-verdict-context">{escape(" · ".join(context))}'
            + (f" · checks: {escape(tally)}" if tally else "")
            + "</p>",
        ]
        if s.insecure_tls:
            parts.append(
                '<p class="dtr-tls-off">TLS verification was OFF for this session '
                "(--insecure-tls): the identity of DTR and UCP was not verified.</p>"
            )
        parts.append("</section>")
        return "".join(parts)

    def not_run(self) -> str:
        """The checks that did not run (deselected, never started, interrupted): pytest-html
        shows only what ran, and a verdict is only as good as what is missing from it."""
        record = self.harness.session_record
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
                f"{escape(self.scrub.text(error.get('message', '')))}</td>"
                f"<td>{escape(error.get('nodeid', ''))}</td></tr>"
            )
        out.append("</table></div>")
        return "".join(out)

    def waivers(self) -> str:
        """The waivers applied (reason, approver, expiry) and those ignored as expired."""
        record = self.harness.session_record
        rows = [
            (c.check_id, self.scrub.data(c.waiver), c.message)
            for c in record.checks
            if c.waiver is not None
        ]
        expired = self.scrub.data(record.waivers_expired)
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
                    f"<td>{escape(self.scrub.text(message))}</td></tr>"
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

    def phases(self) -> str:
        """Each phase's start, end and duration (UTC), and the upgrade's attempts."""
        record = self.harness.session_record
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
                f"{escape(self.scrub.text(upgrade.message))}</p>"
            )
        out.append("</div>")
        return "".join(out)

    def markers(self) -> list[chart.Marker]:
        """Phase boundaries and bootstrapper attempts, for the chart's time axis."""
        record = self.harness.session_record
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

    def availability(self) -> str:
        """The availability chart of the upgrade phase, with the measured outages."""
        record = self.harness.session_record
        measured = record.availability
        if measured is None or not measured.endpoints:
            return ""
        data = self.scrub.data(measured.as_dict())
        upgrade_phase = record.phases.get("upgrade") or {}
        span = chart.probed_span(
            data,
            (
                chart.parse_time(upgrade_phase.get("started_at")),
                chart.parse_time(upgrade_phase.get("finished_at")),
            ),
        )
        svg = chart.availability_svg(data, span=span, markers=self.markers())
        interval = measured.interval_s
        return (
            '<div class="dtr-section" id="dtr-availability"><h3>Availability during the upgrade'
            "</h3>"
            f"<p>Every endpoint sampled every {escape(str(interval))} s; red marks an outage "
            "(hover for its times).</p>"
            f"{svg}</div>"
        )

    def comparison_html(self) -> str:
        """This run beside the earlier bundle given by --compare-with."""
        data = self.harness.session_record.comparison
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

        def row(label: str, figure: compare.Figure) -> str:
            delta = figure.delta_s
            css = ""
            if delta:
                css = ' class="dtr-worse"' if delta > 0 else ' class="dtr-better"'
            shown = f"{delta:+.2f} s" if delta is not None else "—"
            return (
                f"<tr><td>{escape(label)}</td><td>{_seconds(figure.previous_s)}</td>"
                f"<td>{_seconds(figure.current_s)}</td><td{css}>{shown}</td></tr>"
            )

        for name, figure in data.phases.items():
            out.append(row(f"{name} phase", figure))
        out.append(row("longest outage", data.longest_outage))
        failed = data.failed_checks
        out.append(
            f"<tr><td>Failed checks</td><td>{escape(', '.join(sorted(failed.previous)) or 'none')}"
            f"</td><td>{escape(', '.join(sorted(failed.current)) or 'none')}</td>"
            f"<td>new: {escape(', '.join(failed.new) or 'none')}; fixed: "
            f"{escape(', '.join(failed.fixed) or 'none')}</td></tr></table></div>"
        )
        return "".join(out)
