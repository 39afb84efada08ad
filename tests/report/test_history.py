"""The nightly history page (`dtr-upgrade history DIR...`): bundles of several targets and
nights found under nested CI-artifact folders, verified, and shown on one page; rendered in
headless Debian chromium, which under CI (CI=1) must be installed."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from upgrade import cli
from upgrade.evidence import history, history_chart, history_page, integrity
from upgrade.evidence.bundle import bundle_name, close_unfinished

SVG = "{http://www.w3.org/2000/svg}"
LOAD_BUDGET_MS = 1000.0
LOAD_TIMEOUT_MS = 30_000
NIGHTS = 11
TARGETS = ("dtr-a.example.com", "dtr-b.example.com")
FIRST_NIGHT = datetime(2026, 11, 1, 22, 0, 0, tzinfo=UTC)
REPLICAS = ("5eb9459a7832", "a1b2c3d4e5f6", "0f1e2d3c4b5a")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result(
    target: str, started: datetime, verdict: str, upgrade_s: float, down_s: float, failed: list[str]
) -> dict[str, Any]:
    """A result.json as a session writes it, reduced to what the history reads."""
    endpoints: dict[str, dict[str, Any]] = {
        "lb /_ping (fresh)": {"samples": 900, "longest_outage_s": 0.0, "outages": []},
        "lb /v2/ (fresh)": {"samples": 900, "longest_outage_s": 0.0, "outages": []},
    }
    for number, replica in enumerate(REPLICAS):
        endpoints[f"replica {replica} /_ping (fresh)"] = {
            "samples": 900,
            "longest_outage_s": round(down_s + number * 0.1, 3),
            "outages": [],
        }
    phases = {"preflight": 2.0, "upgrade": upgrade_s, "post": 8.5}
    return {
        "verdict": verdict,
        "verdict_reason": f"{verdict.lower()} on purpose",
        "target": target,
        "from_version": "2.5.11",
        "to_version": "2.6.4",
        "started_at": iso(started),
        "phases": {name: {"duration_s": seconds} for name, seconds in phases.items()},
        "availability": {"interval_s": 0.1, "endpoints": endpoints},
        "checks": [{"id": check, "outcome": "failed"} for check in failed]
        + [{"id": "PRE-TARGET-TLS", "outcome": "passed"}],
    }


def write_bundle(report_dir: Path, data: dict[str, Any]) -> Path:
    """A sealed bundle with result.json and a stand-in report.html, named as a session names it."""
    started = datetime.fromisoformat(data["started_at"].replace("Z", "+00:00"))
    folder = report_dir / bundle_name(
        started, data["target"], data["from_version"], data["to_version"]
    )
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "report.html").write_text(
        f"<html><body>report of {folder.name}</body></html>", encoding="utf-8"
    )
    integrity.seal(folder)
    return folder


@dataclass(frozen=True)
class Fleet:
    """CI artifacts of two targets' nights: one folder per job, a report dir in each."""

    root: Path
    bundles: tuple[Path, ...]
    tampered: Path
    unfinished: Path

    @property
    def count(self) -> int:
        return len(self.bundles)


def make_fleet(root: Path) -> Fleet:
    bundles = []
    for index, target in enumerate(TARGETS):
        for night in range(NIGHTS):
            started = FIRST_NIGHT + timedelta(days=night, minutes=index * 5)
            failing = night in (3, 7) and index == 1
            data = result(
                target,
                started,
                "VERIFY-FAILED" if failing else "UPGRADED",
                upgrade_s=40.0 + night * 2 + index * 10,
                down_s=1.0 + (night % 4) * 0.5,
                failed=["POST-DOWNTIME-BUDGET", "POST-JOBS-CLEAN"] if failing else [],
            )
            job = root / "artifacts" / f"nightly-{target}" / f"night-{night:02d}" / "reports"
            folder = write_bundle(job, data)
            bundles.append(folder)
            if night == NIGHTS - 1:
                os.symlink(folder.name, job / "latest")
    # A night whose session was killed: the next session closed its staged bundle.
    job = root / "artifacts" / f"nightly-{TARGETS[1]}" / f"night-{NIGHTS - 1:02d}" / "reports"
    staged = job / ".incomplete-20261112T220000123456Z-4242"
    staged.mkdir()
    (staged / "upgrade.log").write_text("INFO Upgrading replica 5eb9459a7832\n")
    unfinished = close_unfinished(staged, 4242, FIRST_NIGHT + timedelta(days=11), integrity.seal)
    bundles.append(unfinished)
    # The night a failure was edited away after sealing.
    tampered = bundles[NIGHTS + 3]
    data = json.loads((tampered / "result.json").read_text())
    data.update(verdict="UPGRADED", checks=[])
    (tampered / "result.json").write_text(json.dumps(data))
    # Things that are not bundles.
    junk = root / "artifacts" / "junk"
    (junk / "logs").mkdir(parents=True)
    (junk / "logs" / "runner.txt").write_text("runner log\n")
    (junk / "notes.json").write_text("{}")
    return Fleet(root / "artifacts", tuple(bundles), tampered, unfinished)


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """Two targets x 11 nights of sealed bundles, one edited after sealing, one unfinished,
    `latest` pointers and a junk folder."""
    return make_fleet(tmp_path)


# -- reading ---------------------------------------------------------------------------------


def test_every_bundle_under_nested_folders_is_found_once(fleet: Fleet) -> None:
    found = history.find_bundles([fleet.root])
    assert sorted(found) == sorted(fleet.bundles)
    # a folder given twice or inside another is still read once; `latest` is not followed
    again = history.find_bundles([fleet.root, fleet.root / f"nightly-{TARGETS[0]}", fleet.root])
    assert len(again) == fleet.count


def test_each_target_has_its_nights_in_order_with_the_figures_of_result_json(
    fleet: Fleet,
) -> None:
    read = history.read_history([fleet.root])
    grouped = read.by_target()
    assert list(grouped) == list(TARGETS)
    first = grouped[TARGETS[0]]
    assert len(first) == NIGHTS
    assert [run.started_at for run in first] == sorted(run.started_at for run in first)
    night = first[2]
    assert night.summary is not None
    assert night.verdict == "UPGRADED"
    assert night.standing == "good"
    assert night.summary.phase_durations == {"preflight": 2.0, "upgrade": 44.0, "post": 8.5}
    assert night.summary.endpoint_outages == {
        "lb /_ping (fresh)": 0.0,
        "lb /v2/ (fresh)": 0.0,
        "replica 5eb9459a7832 /_ping (fresh)": 2.0,
        "replica a1b2c3d4e5f6 /_ping (fresh)": 2.1,
        "replica 0f1e2d3c4b5a /_ping (fresh)": 2.2,
    }
    assert night.summary.longest_outage_s == 2.2
    failing = grouped[TARGETS[1]][7]
    assert failing.standing == "failed"
    assert failing.summary is not None
    assert failing.summary.failed_checks == ("POST-DOWNTIME-BUDGET", "POST-JOBS-CLEAN")
    assert all(run.verified for run in read.runs if run.path != fleet.tampered)


def test_a_bundle_edited_after_sealing_does_not_verify(fleet: Fleet) -> None:
    read = history.read_history([fleet.root])
    assert [run.path for run in read.unverified] == [fleet.tampered]
    (edited,) = read.unverified
    assert edited.integrity == "changed: result.json"
    # what the edited file says now is shown, and marked as not to be trusted
    assert edited.verdict == "UPGRADED"


def test_an_unfinished_bundle_takes_its_target_from_its_report_directory(fleet: Fleet) -> None:
    read = history.read_history([fleet.root])
    (run,) = [run for run in read.runs if run.path == fleet.unfinished]
    assert run.verdict == "UNFINISHED"
    assert run.standing == "undecided"
    assert run.target == TARGETS[1]
    assert run.summary is None
    assert run.verified, run.integrity
    assert "pid 4242" in run.verdict_reason
    assert run.started_at == datetime(2026, 11, 12, 22, 0, 0, tzinfo=UTC)
    assert read.by_target()[TARGETS[1]][-1] == run


def test_an_unsealed_or_unreadable_folder_is_shown_not_skipped(tmp_path: Path) -> None:
    staged = tmp_path / "reports" / ".incomplete-20261103T220000000001Z-77"
    staged.mkdir(parents=True)
    broken = tmp_path / "reports" / "20261104T220000Z-lab-2.5.11-2.6.4"
    broken.mkdir()
    (broken / "result.json").write_text("{not json")
    integrity.seal(broken)
    read = history.read_history([tmp_path])
    by_name = {run.name: run for run in read.runs}
    never_sealed = by_name[staged.name]
    assert (never_sealed.verdict, never_sealed.verified) == ("UNFINISHED", False)
    assert never_sealed.integrity == "not sealed (no SHA256SUMS)"
    unreadable = by_name[broken.name]
    assert unreadable.verdict == ""
    assert unreadable.verified
    assert unreadable.problem.startswith("result.json cannot be read")
    assert unreadable.target == history.UNKNOWN_TARGET
    page = history_page.render(read, tmp_path / "history.html")
    assert "UNREADABLE" in page
    assert "result.json cannot be read" in page


def test_a_folder_without_bundles_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("nothing here")
    with pytest.raises(history.HistoryError, match="no evidence bundle under"):
        history.read_history([tmp_path])
    with pytest.raises(history.HistoryError, match="no such folder"):
        history.read_history([tmp_path / "missing"])


# -- the page --------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_links_each_report_relatively(
    fleet: Fleet, tmp_path: Path
) -> None:
    output = tmp_path / "site" / "history.html"
    output.parent.mkdir()
    read = history_page.write_history([fleet.root], output)
    page = output.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    hrefs = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    reports = [href for href in hrefs if href.endswith("report.html")]
    assert len(reports) == fleet.count - 1  # the unfinished bundle has no report
    for href in reports:
        assert not href.startswith("/")
        assert (output.parent / unquote(href)).resolve().is_file(), href
    assert page.count('class="dtr-run ') == fleet.count
    assert page.count('dtr-unverified"') + page.count("dtr-unverified ") >= 1
    assert f'data-bundle="{fleet.tampered.name}"' in page
    assert read.unverified[0].name in page.split('id="dtr-unverified"', 1)[1].split("</div>")[0]


def test_the_trend_chart_has_one_mark_per_night_and_marks_the_edited_one(fleet: Fleet) -> None:
    runs = history.read_history([fleet.root]).by_target()[TARGETS[1]]
    root = ET.fromstring(history_chart.trend_svg(runs))  # noqa: S314 (the harness's own output)
    nights = [g for g in root.iter(f"{SVG}g") if g.get("class") == "dtr-night"]
    assert [g.get("data-bundle") for g in nights] == [run.name for run in runs]
    marked = [g.get("data-bundle") for g in nights if g.get("data-verified") == "false"]
    assert marked == [fleet.tampered.name]
    # the unfinished night has no figures: 11 outage points and 3 x 11 phase points
    points = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "dtr-point"]
    assert len(points) == NIGHTS * 4
    assert int(root.get("width") or 0) > 600


# -- the command line ------------------------------------------------------------------------


def test_cli_writes_the_page_and_fails_when_a_bundle_does_not_verify(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "history.html"
    assert cli.main(["history", str(fleet.root), "-o", str(output)]) == cli.EXIT_REFUSED
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{output}: {fleet.count} bundles of 2 targets; 1 do not verify"
    assert out[1] == f"does not verify: {fleet.tampered}: changed: result.json"
    assert output.is_file()


def test_cli_exits_0_when_every_bundle_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for night in range(2):
        write_bundle(
            tmp_path / "reports",
            result("lab", FIRST_NIGHT + timedelta(days=night), "UPGRADED", 3.0, 1.0, []),
        )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["history", "reports"]) == cli.EXIT_ALLOWED
    assert capsys.readouterr().out == "history.html: 2 bundles of 1 target\n"
    assert (tmp_path / history_page.HISTORY_NAME).is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "no such folder"),
        (lambda root: root, "no evidence bundle under"),
    ],
    ids=["missing-folder", "no-bundles"],
)
def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    folder = make(tmp_path)
    assert cli.main(["history", str(folder), "-o", str(tmp_path / "h.html")]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dtr-upgrade history: error: ")
    assert message in lines[0]
    assert not (tmp_path / "h.html").exists()


# -- in the browser --------------------------------------------------------------------------


def test_history_in_chromium(browser: Any, fleet: Fleet, tmp_path: Path) -> None:
    output = tmp_path / "history.html"
    read = history_page.write_history([fleet.root], output)
    assert len(read.runs) >= 20
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(output.as_uri(), wait_until="load", timeout=LOAD_TIMEOUT_MS)
        load_ms = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.loadEventEnd - n.startTime; }"
        )
        print(f"history page of {len(read.runs)} bundles loaded in {load_ms:.0f} ms")
        assert 0 < load_ms < LOAD_BUDGET_MS

        banner = page.locator("#dtr-unverified")
        assert banner.is_visible()
        assert fleet.tampered.name in banner.inner_text()
        assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(178, 31, 45)"

        row = page.locator(f'tr.dtr-run[data-bundle="{fleet.tampered.name}"]')
        assert row.is_visible()
        assert "dtr-unverified" in (row.get_attribute("class") or "")
        cell = row.locator("td.dtr-integrity")
        assert "DOES NOT VERIFY: changed: result.json" in cell.inner_text()
        assert cell.evaluate("e => getComputedStyle(e).color") == "rgb(178, 31, 45)"
        good = page.locator(f'tr.dtr-run[data-bundle="{fleet.bundles[0].name}"] td.dtr-integrity')
        assert good.inner_text() == "SHA256SUMS verified"

        charts = page.locator("svg.dtr-trend")
        assert charts.count() == len(TARGETS)
        for number in range(len(TARGETS)):
            assert charts.nth(number).bounding_box()["width"] > 600
        strip = page.locator(f'g.dtr-night[data-bundle="{fleet.tampered.name}"] rect')
        assert strip.get_attribute("stroke") == "#000"

        link = page.locator(f'tr.dtr-run[data-bundle="{fleet.bundles[0].name}"] a')
        href = link.evaluate("a => a.href")
        assert href == (fleet.bundles[0] / "report.html").resolve().as_uri()

        shot = tmp_path / "history.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        row.scroll_into_view_if_needed()
        row.screenshot(path=str(tmp_path / "tampered-row.png"))
    finally:
        context.close()
