"""Benchmark of the HTML report: size, generation time and load time of a 1,000-check session.

    .venv/bin/python benchmarks/bench_report.py                  # 1,000 checks, 5 runs each way
    .venv/bin/python benchmarks/bench_report.py --checks 200 --runs 3
    .venv/bin/python benchmarks/bench_report.py --update-readme  # also rewrite the README section

A generated project holds `--checks` harness checks (preflight phase, check ID, docstring, each
attaching a small JSON evidence; 1% fail with a message, as a real NO-GO session has some) and
loads the plugin the way the root conftest does. The same session runs, alternately, with the
report (pytest-html self-contained report.html and junit.xml in the bundle, evidence rows, the
environment table, the sealing) and without it (`-p no:html -p no:dtr-upgrade-report`: result.json
and SHA256SUMS only). Each run is a fresh `python -m pytest` process; the figure is the median wall
time, and "added" is the difference of the medians. The load time is from `goto` until every
check row is in the DOM in Debian's headless chromium (playwright), median of 3 fresh pages.

Targets (issue "Benchmarks", item 4): report.html under 5 MB, under 2 s added, loads in under 2 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from readme import add_update_readme, publish  # benchmarks/readme.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, for tests.support
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

SECTION = "## Report"
PER_MODULE = 100
FAIL_EVERY = 100
SESSION_TIMEOUT_S = 600
LOAD_RUNS = 3
TARGET_SIZE_MB = 5.0
TARGET_ADDED_S = 2.0
TARGET_LOAD_S = 2.0

CHECK = '''

@pytest.mark.preflight
@pytest.mark.check("PRE-BENCH-{n:04d}")
def test_bench_{n:04d}(evidence):
    """Benchmark check {n}: replica {rid} answers /_ping with Healthy true and its
    cluster_status entry is OK (a typical one-fact check with a two-line docstring)."""
    evidence.attach("ping", {{"Healthy": True, "Error": "", "replica": "{rid}"}})
    evidence.attach("status", {{"replica_health": {{"{rid}": "OK"}}, "current_issues": []}})
    assert {ok}, "replica {rid} answered 503 Service Unavailable"
'''


def write_project(root: Path, checks: int) -> None:
    """A project of `checks` harness checks, loading the plugin as the root conftest does."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "conftest.py").write_text('pytest_plugins = ["upgrade.plugin"]\n')
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    for start in range(0, checks, PER_MODULE):
        body = ["import pytest\n"]
        for n in range(start, min(start + PER_MODULE, checks)):
            ok = "False" if n % FAIL_EVERY == FAIL_EVERY - 1 else "True"
            body.append(CHECK.format(n=n, rid=f"{n:012x}", ok=ok))
        (root / f"test_bench_{start // PER_MODULE:03d}.py").write_text("".join(body))


@dataclass(frozen=True)
class Run:
    """One session: its wall time and the bundle it wrote."""

    seconds: float
    bundle: Path


def session(project: Path, reports: Path, with_report: bool) -> Run:
    """Run the project's session once; return its wall time and bundle."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--target=dtr.example.com",
        "--to-version=2.6.4",
        f"--report-dir={reports}",
    ]
    if not with_report:
        command += ["-p", "no:html", "-p", "no:dtr-upgrade-report"]
    began = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=SESSION_TIMEOUT_S,
        check=False,
    )
    seconds = time.perf_counter() - began
    bundle = (reports / "latest").resolve()
    if proc.returncode not in (0, 1) or not (bundle / "result.json").is_file():
        raise SystemExit(
            f"the benchmark session failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
        )
    if with_report != (bundle / "report.html").is_file():
        raise SystemExit(f"report.html {'missing' if with_report else 'written'} in {bundle}")
    return Run(seconds, bundle)


def load_times(report: Path, rows: int) -> list[float]:
    """Seconds from navigation until all `rows` result rows are rendered, per fresh page."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for _ in range(LOAD_RUNS):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                began = time.perf_counter()
                page.goto(report.as_uri(), wait_until="load", timeout=60_000)
                page.wait_for_function(
                    f"document.querySelectorAll('tbody.results-table-row').length >= {rows}",
                    timeout=60_000,
                )
                times.append(time.perf_counter() - began)
                context.close()
        finally:
            browser.close()
    return times


def machine() -> str:
    """CPU model, cores, RAM, kernel, Python and chromium, in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        ram = f"{pages / 2**30:.0f} GB RAM"
    except (ValueError, OSError):
        ram = "RAM unknown"
    browser = "chromium absent"
    if CHROMIUM.is_file():
        found = subprocess.run(
            [str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
        browser = found.stdout.strip() or "chromium (version unknown)"
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {browser}"
    )


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def run(checks: int, runs: int) -> str:
    """Run the benchmark; return the README section."""
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        project = Path(scratch, "project")
        write_project(project, checks)
        session(project, Path(scratch, "warm"), True)  # imports and bytecode compiled once
        with_times: list[float] = []
        without_times: list[float] = []
        last: Run | None = None
        for number in range(runs):
            last = session(project, Path(scratch, f"with-{number}"), True)
            with_times.append(last.seconds)
            without_times.append(
                session(project, Path(scratch, f"without-{number}"), False).seconds
            )
        assert last is not None
        report = last.bundle / "report.html"
        size_mb = report.stat().st_size / 1e6
        bundle_mb = sum(p.stat().st_size for p in last.bundle.rglob("*") if p.is_file()) / 1e6
        with_s = statistics.median(with_times)
        without_s = statistics.median(without_times)
        added_s = with_s - without_s
        if CHROMIUM.is_file():
            loads = load_times(report, checks)
            load_s: float | None = statistics.median(loads)
            load_text = f"{load_s:.2f} s (runs: {', '.join(f'{t:.2f}' for t in loads)})"
        else:
            load_s, load_text = None, f"not measured: {CHROMIUM} is not installed"

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    failing = checks // FAIL_EVERY
    lines = [
        SECTION,
        "",
        f"Measured {when} on {machine()}.",
        f"Reproduce: `.venv/bin/python benchmarks/bench_report.py --checks {checks} --runs {runs} "
        "--update-readme`.",
        "",
        f"A session of {checks:,} checks ({failing} failing, every check attaching two JSON "
        "evidence items), run as a fresh `pytest` process with the report (self-contained "
        "report.html, junit.xml, evidence rows, environment table) and without it "
        "(`-p no:html -p no:dtr-upgrade-report`: result.json and SHA256SUMS only), "
        f"{runs} runs each, alternating; medians.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| report.html size | {size_mb:.2f} MB (whole bundle {bundle_mb:.2f} MB) | "
        f"< {TARGET_SIZE_MB:g} MB: {verdict(size_mb < TARGET_SIZE_MB)} |",
        f"| session wall time with the report | {with_s:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in with_times)}) | |",
        f"| session wall time without it | {without_s:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in without_times)}) | |",
        f"| added by the report | {added_s:.2f} s | < {TARGET_ADDED_S:g} s: "
        f"{verdict(added_s < TARGET_ADDED_S)} |",
        f"| load in headless chromium until all {checks:,} rows are rendered | {load_text} | "
        f"< {TARGET_LOAD_S:g} s: "
        + (verdict(load_s < TARGET_LOAD_S) if load_s is not None else "NOT MEASURED")
        + " |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, run, print the section, optionally write it into the README."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000, help="checks in the session")
    parser.add_argument("--runs", type=int, default=5, help="sessions each way (median)")
    add_update_readme(parser)
    args = parser.parse_args()
    if args.checks < 1 or args.runs < 1:
        parser.error("--checks and --runs must be at least 1")
    section = run(args.checks, args.runs)
    publish(SECTION, section, update=args.update_readme)


if __name__ == "__main__":
    main()
