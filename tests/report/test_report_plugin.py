"""The report plugin through pytester: bundle content, columns, evidence, banner, environment,
waivers, chart, comparison, signing and interrupted sessions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.report.reportdata import extra_html, report_data, rows
from tests.support.pytester_checks import check, checks_module
from upgrade import cli
from upgrade.evidence import integrity

pytest_plugins = ["pytester"]


def checks(*, fails: bool = True) -> str:
    """PRE-EVIDENCE (JSON evidence, a note, a large log), PRE-WAIVED and PRE-FAILS (`fails`)."""
    return checks_module(
        check(
            "PRE-EVIDENCE",
            "test_with_evidence",
            "Attaches JSON evidence,\na note and a large log.",
            """
            evidence.attach("replicas", {"5eb9459a7832": "2.5.11", "tags": ["a", "b"]})
            evidence.attach("log", "bootstrapper line\\n" * 4000)
            evidence.note("an even number of replicas risks quorum")
            """,
            args="evidence",
        ),
        check(
            "PRE-WAIVED",
            "test_waived",
            "Fails, but a waiver covers it.",
            'assert False, "known problem"',
        ),
        check(
            "PRE-FAILS",
            "test_fails",
            "Fails for real <b>not markup</b>.",
            f"""
            evidence.attach("status", 503)
            assert {not fails}, "replica answered 503"
            """,
            args="evidence",
        ),
    )


WAIVERS = (
    '[[waiver]]\ncheck = "PRE-WAIVED"\nreason = "known, tracked in CHG-41"\n'
    'approver = "j.doe"\nexpires = "2999-01-01T00:00Z"\n'
)


def load_harness(pytester: pytest.Pytester) -> None:
    """Load the plugin as the project's root conftest does (after pytest-html and junitxml)."""
    pytester.makeconftest('pytest_plugins = ["upgrade.plugin"]\n')


def project(pytester: pytest.Pytester, *, fails: bool = True) -> None:
    load_harness(pytester)
    pytester.makepyfile(test_checks=checks(fails=fails))
    pytester.makefile(".toml", waivers=WAIVERS)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--target=dtr.example.com",
        "--to-version=2.6.4",
        "--report-dir",
        "out",
        "--waivers",
        "waivers.toml",
        *args,
    )


def bundle(pytester: pytest.Pytester) -> Path:
    latest = Path(pytester.path, "out", "latest")
    assert latest.is_symlink()
    return latest.resolve()


def result_of(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "result.json").read_text())
    assert isinstance(data, dict)
    return data


def test_bundle_holds_report_result_junit_evidence_and_sums(pytester: pytest.Pytester) -> None:
    project(pytester)
    run(pytester)
    folder = bundle(pytester)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == [
        "SHA256SUMS",
        "evidence/PRE-EVIDENCE-1-log.txt",
        "junit.xml",
        "report.html",
        "result.json",
    ]
    assert integrity.verify(folder).ok
    assert "assets" not in names  # self-contained: no side files
    assert "<testsuite" in (folder / "junit.xml").read_text()


def test_rows_have_check_id_phase_description_and_harness_outcome(
    pytester: pytest.Pytester,
) -> None:
    project(pytester)
    run(pytester)
    report = bundle(pytester) / "report.html"
    header = report_data(report)
    assert header["title"] == "DTR upgrade ? -> 2.6.4 on dtr.example.com"
    text = report.read_text()
    assert re.search(r"<th[^>]*>Check ID</th>\s*<th[^>]*>Phase</th>\s*<th>Description</th>", text)
    found = rows(report)
    assert set(found) == {"PRE-EVIDENCE", "PRE-WAIVED", "PRE-FAILS"}
    assert found["PRE-WAIVED"]["cells"][:3] == ["Waived", "PRE-WAIVED", "preflight"]
    assert found["PRE-FAILS"]["cells"][0] == "Failed"
    assert found["PRE-FAILS"]["cells"][3] == "Fails for real &lt;b&gt;not markup&lt;/b&gt;."
    assert found["PRE-EVIDENCE"]["cells"][3] == "Attaches JSON evidence, a note and a large log."


def test_evidence_is_expandable_pretty_json_and_large_logs_are_linked(
    pytester: pytest.Pytester,
) -> None:
    project(pytester)
    run(pytester)
    folder = bundle(pytester)
    evidence = extra_html(rows(folder / "report.html")["PRE-EVIDENCE"])
    assert '<details class="dtr-evidence-item"><summary>replicas</summary>' in evidence
    assert "{\n  &quot;5eb9459a7832&quot;: &quot;2.5.11&quot;,\n  &quot;tags&quot;: [" in evidence
    assert "Note: an even number of replicas risks quorum" in evidence
    assert 'href="evidence/PRE-EVIDENCE-1-log.txt"' in evidence
    assert "bootstrapper line" not in (folder / "report.html").read_text()
    assert (folder / "evidence/PRE-EVIDENCE-1-log.txt").read_text().count("\n") == 4000
    failed = extra_html(rows(folder / "report.html")["PRE-FAILS"])
    assert '<p class="dtr-message">replica answered 503' in failed


def test_banner_is_red_with_the_reason_and_waivers_are_listed(pytester: pytest.Pytester) -> None:
    project(pytester)
    run(pytester, "--insecure-tls")
    text = (bundle(pytester) / "report.html").read_text()
    banner = re.search(r'<section id="dtr-verdict"[^>]*>.*?</section>', text, re.S)
    assert banner, "no verdict banner"
    assert 'class="dtr-banner dtr-bad" data-verdict="NO-GO"' in banner.group(0)
    assert "preflight failed (PRE-FAILS)" in banner.group(0)
    assert "TLS verification was OFF" in banner.group(0)
    # the banner comes before the results and the environment in the page's order
    assert "body&gt;.summary{order:-1}" not in text
    assert "body>.summary{order:-1}" in text
    waivers = re.search(r'<div class="dtr-section" id="dtr-waivers">.*?</div>', text, re.S)
    assert waivers
    for value in ("PRE-WAIVED", "known, tracked in CHG-41", "j.doe", "2999-01-01T00:00:00+00:00"):
        assert value in waivers.group(0)


def test_banner_is_green_for_go(pytester: pytest.Pytester) -> None:
    project(pytester, fails=False)
    result = run(pytester)
    assert result.ret == 0
    text = (bundle(pytester) / "report.html").read_text()
    assert 'class="dtr-banner dtr-good" data-verdict="GO"' in text
    assert "The bundle is not signed (--sign-key was not given)." in text


def test_environment_table_names_change_people_versions_and_harness(
    pytester: pytest.Pytester,
) -> None:
    project(pytester)
    run(
        pytester,
        "--change-id=CHG-42",
        "--operator=alice",
        "--approver=bob <b@example.com>",
        "--insecure-tls",
    )
    environment = report_data(bundle(pytester) / "report.html")["environment"]
    keys = list(environment)
    assert keys[:6] == ["Change ID", "Operator", "Approver", "Target", "UCP", "TLS verification"]
    assert environment["Change ID"] == "CHG-42"
    assert environment["Approver"] == "bob &lt;b@example.com&gt;"
    assert environment["Target"] == "https://dtr.example.com"
    assert "OFF (--insecure-tls)" in environment["TLS verification"]
    assert environment["To version"] == "2.6.4"
    assert re.fullmatch(
        r"[0-9a-f]{40}( \(with uncommitted changes\))?", environment["Harness commit"]
    )
    assert environment["Harness version"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", environment["Started (UTC)"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", environment["Finished (UTC)"])
    assert "--change-id=CHG-42" in environment["Command"]
    assert "Platform" in environment  # pytest-metadata's own rows stay, after the harness's


AVAILABILITY_CHECKS = checks_module(
    check("PRE-A", "test_pre", "Preflight."),
    check(
        "UPG-RUN",
        "test_upgrade",
        "The upgrade (simulated: availability and a log, as the prober and bootstrapper give).",
        """
        harness.bundle.file("upgrade.log").write_text("INFO upgrading replica 5eb9459a7832\\n")
        harness.session_record.availability = ProbeResult(
            interval_s=0.1,
            started_at=at(0),
            stopped_at=at(59),
            endpoints={
                "lb /_ping (fresh)": EndpointSummary("lb /_ping (fresh)", 600, 15, 0, (OUTAGE,)),
                "replica 5eb9459a7832 /_ping (fresh)": EndpointSummary(
                    "replica 5eb9459a7832 /_ping (fresh)", 600, 0, 0, ()
                ),
            },
            cpu_s=0.0,
        )
        """,
        phase="upgrade",
        args="harness",
    ),
    preamble="""
    from datetime import datetime, timezone

    from upgrade.procedure.outages import EndpointSummary, Outage, ProbeResult

    def at(second, micro=0):
        return datetime(2026, 11, 27, 22, 0, second, micro, tzinfo=timezone.utc)

    OUTAGE = Outage(10.0, 11.5, at(10), at(11, 500000), failed_samples=15)
    """,
)


def test_availability_chart_and_phase_timings_and_log_link(pytester: pytest.Pytester) -> None:
    load_harness(pytester)
    pytester.makepyfile(test_checks=AVAILABILITY_CHECKS)
    pytester.runpytest(
        "--target=dtr.example.com",
        "--to-version=2.6.4",
        "--apply",
        "--report-dir",
        "out",
    )
    folder = bundle(pytester)
    text = (folder / "report.html").read_text()
    section = re.search(r'<div class="dtr-section" id="dtr-availability">.*?</svg>', text, re.S)
    assert section, "no availability chart"
    assert section.group(0).count('class="dtr-endpoint"') == 2
    assert section.group(0).count('class="dtr-outage"') == 1
    assert "lb /_ping (fresh) down 22:00:10.0 to 22:00:11.5 UTC (1.50 s)" in section.group(0)
    assert re.search(r'id="dtr-phases".*<td>preflight</td>.*<td>upgrade</td>', text, re.S)
    upgrade_row = rows(folder / "report.html")["UPG-RUN"]
    links = [e for e in upgrade_row["extras"] if e["format_type"] == "url"]
    assert links == [
        {
            "name": "upgrade.log",
            "format_type": "url",
            "content": "upgrade.log",
            "mime_type": None,
            "extension": None,
        }
    ]
    assert "upgrade.log" in integrity.read_sums(folder / "SHA256SUMS")


def test_compare_with_latest_puts_both_runs_side_by_side(pytester: pytest.Pytester) -> None:
    project(pytester)
    first = run(pytester, "--compare-with=latest")
    assert first.ret == 1
    assert result_of(bundle(pytester))["comparison"]["note"] == "no earlier bundle for 'latest'"
    earlier = bundle(pytester)
    project(pytester, fails=False)
    run(pytester, "--compare-with=latest")
    later = bundle(pytester)
    assert later != earlier
    comparison = result_of(later)["comparison"]
    assert comparison["previous"]["bundle"] == earlier.name
    assert comparison["previous"]["verdict"] == "NO-GO"
    assert comparison["current"]["verdict"] == "GO"
    assert comparison["failed_checks"]["fixed"] == ["PRE-FAILS"]
    assert comparison["previous_integrity"] == "intact (SHA256SUMS verified)"
    assert set(comparison["phases"]) == {"preflight"}
    text = (later / "report.html").read_text()
    section = re.search(r'id="dtr-comparison">.*?</table>', text, re.S)
    assert section
    assert earlier.name in section.group(0)
    assert "fixed: PRE-FAILS" in section.group(0)


def test_compare_with_a_missing_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = run(pytester, "--compare-with=nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--compare-with nowhere: no such bundle folder*"])


def test_interrupted_session_still_writes_a_sealed_bundle(pytester: pytest.Pytester) -> None:
    load_harness(pytester)
    pytester.makepyfile(
        test_checks=checks_module(
            check("PRE-A", "test_a", "Passes."),
            check(
                "PRE-STOP",
                "test_stop",
                "The operator presses Ctrl-C here.",
                "raise KeyboardInterrupt",
            ),
        )
    )
    result = pytester.runpytest_subprocess("--target=dtr.example.com", "--report-dir", "out")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    folder = bundle(pytester)
    assert {"report.html", "result.json", "junit.xml", "SHA256SUMS"} <= {
        p.name for p in folder.iterdir()
    }
    assert integrity.verify(folder).ok
    assert 'data-verdict="INTERRUPTED"' in (folder / "report.html").read_text()


needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed"
)


def keypair(root: Path, name: str) -> Path:
    key = root / name
    subprocess.run(
        [
            shutil.which("ssh-keygen") or "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            str(key),
        ],
        check=True,
        timeout=30,
    )
    return key


@needs_ssh_keygen
def test_signed_session_verifies_with_its_key_only(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = keypair(pytester.path, "operator")
    other = keypair(pytester.path, "other")
    project(pytester)
    run(pytester, f"--sign-key={signer}")
    folder = bundle(pytester)
    assert (folder / "SHA256SUMS.sig").is_file()
    assert f"signed with the SSH key {signer}" in (folder / "report.html").read_text()
    capsys.readouterr()
    assert cli.main(["verify-bundle", str(folder), "--public-key", f"{signer}.pub"]) == 0
    assert capsys.readouterr().out.startswith("OK (signature valid")
    assert cli.main(["verify-bundle", str(folder), "--public-key", f"{other}.pub"]) == 1
    assert capsys.readouterr().out == (
        "signature: INVALID (the signing key is not an allowed signer)\n"
    )


def test_unusable_sign_key_is_refused_before_anything_runs(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = run(pytester, "--sign-key=missing-key")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sign-key missing-key: no such file*"])


def test_without_pytest_html_the_session_is_refused_before_it_starts(
    pytester: pytest.Pytester,
) -> None:
    # A bundle without report.html is not the evidence the README promises: refused at start
    # (it ended UPGRADED with exit 0 and no report before).
    project(pytester, fails=False)
    result = run(pytester, "-p", "no:html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*written by pytest-html, which is disabled (-p no:html)*"])
    assert not (pytester.path / "out").exists() or not any((pytester.path / "out").iterdir())
