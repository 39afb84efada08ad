"""The HTML report of the evidence bundle, through pytest-html's public hooks and pytest-metadata.

`ReportPlugin` is registered by the plugin when a session has a target, which then calls
`point_reports_into_bundle` (before pytest-html's and junitxml's own configure), hands each
check's report to `attach_evidence` once its outcome is recorded, and calls
`compare_with_earlier` and `fill_environment_table` after the verdict
(`upgrade.plugin.session_end`). It points pytest-html (self-contained) and junitxml at the
bundle folder, adds the check ID, phase and description columns, puts each check's evidence
into its expandable row (large items written as files of the bundle and linked), fills the
environment table, and puts the verdict banner and the summary's sections into the report. The
HTML itself is built by `upgrade.evidence.html` from the session record and the settings; this
module only carries it into pytest-html's model (`report_data` for the title and summary, each
`basereport` for its row and extras).

Sealing the bundle (redaction pass, `SHA256SUMS`, the optional signature) is
`upgrade.evidence.bundle.seal`, called by the session's end once the report is written.
"""

from __future__ import annotations

import platform
import shlex
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from upgrade.evidence import compare, html, html_summary, integrity, source
from upgrade.evidence.bundle import EVIDENCE_DIR, JUNIT_NAME, REPORT_NAME, UPGRADE_LOG
from upgrade.evidence.files import atomic_write
from upgrade.evidence.records import CheckRecord, utc_now

if TYPE_CHECKING:
    from upgrade.plugin.harness import Harness

__all__ = ["ReportPlugin"]


class ReportPlugin:
    """pytest-html and pytest-metadata hooks that turn one harness session into its report."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.scrub = html.Scrub(harness.redaction_steps)
        self.previous: Path | None = None
        self.finished_at: datetime | None = None
        self.version = source.harness_version()
        self.commit = source.harness_commit()
        self._title_report: Any = None

    # -- configuration ------------------------------------------------------------------------

    def point_reports_into_bundle(self, config: pytest.Config) -> None:
        """Point pytest-html (self-contained) and junitxml into the bundle; check the signing
        key and the bundle to compare with before anything runs."""
        bundle = self.harness.bundle
        if not self.harness.collect_only:
            # What the user asked for (--html, --junitxml) is written there too, from the sealed
            # bundle: a CI job reading results.xml finds it where its own configuration says.
            for name, asked in (
                (REPORT_NAME, getattr(config.option, "htmlpath", None)),
                (JUNIT_NAME, getattr(config.option, "xmlpath", None)),
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

    def attach_evidence(
        self, record: CheckRecord, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        """Attach the check's evidence to its call report (or to a setup that did not pass)."""
        if not (report.when == "call" or not report.passed) or report.when == "teardown":
            return
        from pytest_html import extras

        added: list[dict[str, Any]] = []
        if record.evidence or record.message or record.notes or record.waiver:
            shown = html.render_evidence(record, self.scrub.data, self._write_evidence_file)
            added.append(extras.html(shown))
        if record.phase == "upgrade" and self.harness.bundle.file(UPGRADE_LOG).exists():
            added.append(extras.url(UPGRADE_LOG, name=UPGRADE_LOG))
        if added:
            # pytest-html's documented way: a list of extras on the report object
            setattr(report, "extras", [*getattr(report, "extras", []), *added])  # noqa: B010

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
        return html.title(self.harness.settings, self.harness.session_record)

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
        cells[1:1] = html.row_cells(record)
        if record is None:
            return
        if record.outcome in ("waived", "error") and cells[0].startswith('<td class="col-result">'):
            cells[0] = f'<td class="col-result">{html.OUTCOME_LABELS[record.outcome]}</td>'

    # -- end of session -----------------------------------------------------------------------

    # tryfirst: the outermost wrapper, around the terminal reporter's own summary and the lines
    # pytest-html and junitxml write in theirs, so every line naming a report is rewritten.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> Generator[None]:
        """pytest-html and junitxml name the files they wrote in the staging folder, which is
        renamed when the bundle is sealed: their terminal lines name the final, absolute path
        (chosen now; the bundle gets exactly that name)."""
        record = self.harness.session_record
        staged = self.harness.bundle.path.resolve()
        final = self.harness.bundle.final_path(record.from_version, record.to_version).resolve()
        write_sep = terminalreporter.write_sep

        def final_paths(
            sep: str, title: str | None = None, fullwidth: int | None = None, **markup: bool
        ) -> None:
            if title is not None:
                title = title.replace(staged.as_uri(), final.as_uri())
                title = title.replace(str(staged), str(final))
            write_sep(sep, title, fullwidth, **markup)

        terminalreporter.write_sep = final_paths  # type: ignore[method-assign]
        try:
            return (yield)
        finally:
            terminalreporter.write_sep = write_sep  # type: ignore[method-assign]

    # trylast: the innermost wrapper, inside the terminal reporter's, right around pytest-html's
    # and junitxml's writing: a write failure (a full disk) is recorded as a bundle problem, so
    # the terminal summary, result.json and the seal that follow still happen.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        """Record a report plugin's write failure instead of letting it end the session."""
        try:
            return (yield)
        except OSError as exc:
            self.harness.bundle_problem(exc)
            return None

    def fill_environment_table(self, session: pytest.Session) -> None:
        """The harness's rows first in pytest-metadata's table (pytest-html shows it), the
        other rows scrubbed of secrets."""
        self.finished_at = utc_now()
        config = session.config
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

    def compare_with_earlier(self, session: pytest.Session) -> None:
        """With --compare-with: this run against the earlier bundle, into the session record."""
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

    def environment(self, config: pytest.Config) -> dict[str, str]:
        """The environment table's rows (HTML-escaped values; pytest-html shows them as HTML)."""
        target = self.harness.connected_target
        provenance = html.Provenance(
            version=self.version,
            commit=self.commit,
            command=shlex.join(["pytest", *config.invocation_params.args]),
            lab_dtr_url=target.dtr_url if target is not None else None,
            finished_at=self.finished_at,
            python=platform.python_version(),
        )
        return html.environment(
            self.harness.settings, self.harness.session_record, provenance, self.scrub
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        """The verdict banner first; then waivers, phase timings, availability, comparison."""
        if self._title_report is not None:
            self._title_report.title = self.title()
        settings, record = self.harness.settings, self.harness.session_record
        banner = html.banner(settings, record, self.harness.final, self.scrub)
        prefix.insert(0, f"<style>{html.STYLE}</style>" + banner)
        sections = (
            html_summary.not_run(record, self.scrub),
            html_summary.waivers(record, self.scrub),
            html_summary.phases(record, self.scrub),
            html_summary.availability(record, self.scrub),
            html_summary.comparison(record.comparison),
            html_summary.integrity_section(settings.sign_key),
        )
        for section in sections:
            if section:
                postfix.append(section)
