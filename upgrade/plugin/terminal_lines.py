"""What the session writes on the terminal of its own: the header (target, mode, and what start-up
found: sealed unfinished bundles, expired waivers) and the closing lines that end every session
with a target (the bundle's problems, harness bugs, the checks' warnings, ignored signals, the
bundle's path and the VERDICT line, always the last)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from upgrade.cluster.site import target_label

if TYPE_CHECKING:
    from upgrade.plugin.harness import Harness


class TerminalHeader:
    """The `pytest_report_header` of one session."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """Show the resolved target and what the session will do."""
        s = self.harness.settings
        target = target_label(s)
        lines = [
            f"dtr-upgrade: target {target}; mode {s.mode}"
            + (f"; to {s.to_version}" if s.to_version else "")
            + ("; TLS verification OFF (--insecure-tls)" if s.insecure_tls else ""),
        ]
        return lines + self.harness.header_lines


def write_verdict(harness: Harness) -> None:
    """The session's closing lines; the VERDICT line is the terminal's last."""
    assert harness.final is not None
    record = harness.session_record
    writer = harness.config.get_terminal_writer()
    colour = {"green": True} if harness.final.good else {"red": True, "bold": True}
    if writer.width_of_current_line:
        writer.line()
    for problem in record.bundle_problems:
        writer.line(f"dtr-upgrade: the bundle is incomplete: {problem}")
    for bug in harness.harness_bugs:
        writer.line(
            f"dtr-upgrade: {bug} - a harness bug, not a finding about the DTR; the traceback "
            f"is above and in {harness.bundle.path.resolve() / 'report.html'}"
        )
    for check in harness.records.values():
        # A warning does not change the verdict's word, but the operator must read it here,
        # not only in the report's collapsed row.
        for note in check.notes:
            writer.line(f"WARNING {check.check_id}: {_scrubbed(harness, note)}", yellow=True)
    for name in harness.signals.ignored:
        writer.line(f"dtr-upgrade: {name} arrived while the bundle was sealed; it was ignored")
    writer.line(f"bundle: {harness.bundle.path.resolve()}")
    reason = harness.final.reason
    if record.bundle_problems:
        count = len(record.bundle_problems)
        reason = (
            f"{reason.removesuffix('.')}; but the evidence bundle is incomplete "
            f"({count} problem{'s' if count != 1 else ''} above)."
        )
        colour = {"red": True, "bold": True}
    writer.line(f"VERDICT: {harness.final.word} - {reason}", **colour)


def _scrubbed(harness: Harness, text: str) -> str:
    """`text` with every secret the session knows masked, as the bundle holds it."""
    for step in harness.redaction_steps():
        text = step(text)
    return text
