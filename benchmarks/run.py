"""Run every benchmark, print the headline figures and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py                 # all benchmarks, full length
    .venv/bin/python benchmarks/run.py --quick         # shorter runs where a benchmark allows it
    .venv/bin/python benchmarks/run.py --only prober   # one benchmark (repeat --only for more)

Each benchmark runs as its own subprocess; its figures are read from what it prints (the
markdown section it would write into README.md) or from its --json file. RESULTS.md holds the
machine, the date, every figure with its target, and met or missed with the cause. With
`--only`, an existing RESULTS.md keeps everything but the rows, missed-target lines and command
lines of the benchmarks run, which are replaced (`merge_results`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
RESULTS = HERE / "RESULTS.md"
BENCH_TIMEOUT_S = 1800.0


class BenchmarkFailed(RuntimeError):
    """A benchmark exited with an error or printed no figure this runner can read."""


@dataclass(frozen=True)
class Figure:
    """One headline figure with its target; `met` is None where there is no target."""

    benchmark: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None
    cause: str = ""


@dataclass
class Outcome:
    """What one benchmark produced: its figures, or why it produced none."""

    name: str
    command: list[str]
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


def _find(pattern: str, text: str, what: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise BenchmarkFailed(f"no {what} in the benchmark's output (looked for {pattern!r})")
    return match


def parse_prober(out: str, _json: dict[str, Any] | None) -> list[Figure]:
    """Accuracy and cost figures from bench_prober.py's section."""
    overall = _find(
        r"Over all (\d+) measurements: prober mean abs error ([\d.]+) s \(max ([\d.]+) s\); "
        r"1 s sampler ([\d.]+) s \(max ([\d.]+) s\); ratio ([\d.]+)x",
        out,
        "accuracy summary",
    )
    within = _find(r"within interval \+ 50 ms \(([\d.]+) s\): (\d+)/(\d+) met", out, "error bound")
    cost = _find(
        r"\| whole benchmark process \(getrusage\) \| ([\d.]+) \| ([\d.]+)% \|", out, "cost"
    )
    ratio = float(overall[6])
    share = float(cost[2])
    return [
        Figure(
            "prober",
            "accuracy: prober max abs error",
            f"{overall[3]} s (mean {overall[2]} s, {overall[1]} outages)",
            f"every error <= interval + 50 ms ({within[1]} s)",
            within[2] == within[3],
            "" if within[2] == within[3] else f"{within[2]}/{within[3]} within the bound",
        ),
        Figure(
            "prober",
            "accuracy: 1 s sampler / prober (mean abs error)",
            f"{ratio:.1f}x (1 s sampler mean {overall[4]} s, max {overall[5]} s)",
            ">= 8x",
            ratio >= 8.0,
            "" if ratio >= 8.0 else "see the per-outage table in README.md, Prober",
        ),
        Figure(
            "prober",
            "cost: CPU of 1 LB + 3 replicas at 0.1 s",
            f"{share:.1f}% of one core ({cost[1]} CPU s/min)",
            "< 10% of one core",
            share < 10.0,
        ),
    ]


def parse_lab(out: str, _json: dict[str, Any] | None) -> list[Figure]:
    """Scale and throughput figures from bench_lab.py's table."""
    start = _find(r"^start lab with ([\d,]+) repos x (\d+) tags\s*\| ([\d.]+) s", out, "lab start")
    rss = _find(r"^peak RSS of the lab process\s*\| (\d+) MB", out, "peak RSS")
    rates = [float(r.replace(",", "")) for r in re.findall(r"\| ([\d,]+) req/s", out)]
    if not rates:
        raise BenchmarkFailed("no throughput rows in bench_lab.py's output")
    return [
        Figure(
            "lab",
            f"lab start with {start[1]} repos x {start[2]} tags",
            f"{start[3]} s, peak RSS {rss[1]} MB",
            "10,000 x 5 held",
            int(start[1].replace(",", "")) >= 10_000 and int(start[2]) >= 5,
            "" if int(start[1].replace(",", "")) >= 10_000 else "quick run: fewer repositories",
        ),
        Figure(
            "lab",
            "LB throughput, slowest configuration",
            f"{min(rates):,.0f} req/s (fastest {max(rates):,.0f})",
            ">= 500 req/s",
            min(rates) >= 500,
        ),
    ]


INVENTORY_CAUSE = (
    "with no added latency the lab itself is the bottleneck (one Python process answering "
    "about 1,000 tag lists per second on a core shared with the client), so concurrency "
    "cannot beat the serial walk; see README.md, Inventory (data intact)"
)


def parse_inventory(out: str, _json: dict[str, Any] | None) -> list[Figure]:
    """One pair of figures per added latency from bench_inventory.py's table."""
    scale = _find(r"over ([\d,]+) repositories x (\d+) tags", out, "scale")
    full = int(scale[1].replace(",", "")) >= 10_000
    rows = re.findall(
        r"^\| ([\d.]+) ms \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \| ([\d,]+) / ([\d,]+) \|",
        out,
        re.MULTILINE,
    )
    if not rows:
        raise BenchmarkFailed("no result rows in bench_inventory.py's output")
    figures = []
    for latency, workers, concurrent, serial, speedup, _, _ in rows:
        label = f"{scale[1]} repos x {scale[2]} tags, {latency} ms added latency"
        figures.append(
            Figure(
                "inventory",
                f"snapshot, {label}",
                f"{concurrent} s ({workers} workers)",
                "< 20 s" + ("" if full else " (at 10,000 x 5)"),
                float(concurrent) < 20.0,
            )
        )
        met = float(speedup) >= 4.0
        figures.append(
            Figure(
                "inventory",
                f"concurrent / serial, {label}",
                f"{speedup}x (serial {serial} s)",
                ">= 4x",
                met,
                "" if met else (INVENTORY_CAUSE if float(latency) == 0 else "see README.md"),
            )
        )
    return figures


def parse_report(out: str, _json: dict[str, Any] | None) -> list[Figure]:
    """Size, added time and load time from bench_report.py's table."""
    size = _find(r"\| report\.html size \| ([\d.]+) MB \(whole bundle ([\d.]+) MB\)", out, "size")
    added = _find(r"\| added by the report \| (-?[\d.]+) s", out, "added time")
    load = re.search(r"\| load in headless chromium[^|]*\| ([\d.]+) s", out)
    checks = _find(r"A session of ([\d,]+) checks", out, "session size")
    figures = [
        Figure(
            "report",
            f"report.html size, {checks[1]} checks",
            f"{size[1]} MB (bundle {size[2]} MB)",
            "< 5 MB",
            float(size[1]) < 5.0,
        ),
        Figure(
            "report",
            "session time added by the report",
            f"{added[1]} s",
            "< 2 s",
            float(added[1]) < 2.0,
        ),
    ]
    if load is None:
        figures.append(
            Figure(
                "report",
                "load in headless Chromium",
                "not measured",
                "< 2 s",
                False,
                "no Chromium found by bench_report.py on this machine",
            )
        )
    else:
        figures.append(
            Figure(
                "report",
                "load in headless Chromium until every row is rendered",
                f"{load[1]} s",
                "< 2 s",
                float(load[1]) < 2.0,
            )
        )
    return figures


OVERHEAD_RATIO_CAUSE = (
    "the harness's cost is about 3 s whatever the replica count ({breakdown}), while the "
    "lab's bootstrapper takes about a second per replica, so the ratio cannot reach 10% on "
    "the lab; a real DTR's bootstrapper pulls its images, replaces every container one "
    "replica at a time and runs data migrations, and the same 3 s are under 10% of any "
    "bootstrapper run over 30 s"
)
OVERHEAD_ABSOLUTE_CAUSE = (
    "where the time goes: {breakdown}; post includes settling, whose health poll runs once "
    "a second, so up to a second of it is waiting for the next poll"
)


def _breakdown(config: dict[str, Any]) -> str:
    return ", ".join(f"{name} {s:.2f} s" for name, s in config["breakdown_s"].items())


def parse_overhead(_out: str, data: dict[str, Any] | None) -> list[Figure]:
    """Overhead per replica count from bench_overhead.py's JSON."""
    if data is None:
        raise BenchmarkFailed("bench_overhead.py wrote no JSON")
    figures = []
    for config in data["configurations"]:
        replicas = config["replicas"]
        phases = ", ".join(f"{name} {s:.2f} s" for name, s in config["phases_s"].items())
        breakdown = _breakdown(config)
        figures.append(
            Figure(
                "overhead",
                f"{replicas} replicas: overhead (session - bootstrapper), median of "
                f"{len(config['runs'])}",
                f"{config['overhead_s']:.2f} s (range {config['overhead_min_s']:.2f}-"
                f"{config['overhead_max_s']:.2f}; session {config['wall_s']:.2f} s, "
                f"bootstrapper {config['upgrade_s']:.2f} s; phases: {phases})",
                "< 3 s",
                bool(config["absolute_met"]),
                ""
                if config["absolute_met"]
                else OVERHEAD_ABSOLUTE_CAUSE.format(breakdown=breakdown),
            )
        )
        figures.append(
            Figure(
                "overhead",
                f"{replicas} replicas: overhead / bootstrapper run time",
                f"{config['overhead_ratio']:.0%}",
                "< 10%",
                bool(config["ratio_met"]),
                "" if config["ratio_met"] else OVERHEAD_RATIO_CAUSE.format(breakdown=breakdown),
            )
        )
    return figures


def parse_dataproof(_out: str, data: dict[str, Any] | None) -> list[Figure]:
    """Scale, rate against the lab's ceiling, memory and session cost (bench_dataproof.py)."""
    from dataproof_figures import figures  # benchmarks/dataproof_figures.py, beside this script

    if data is None:
        raise BenchmarkFailed("bench_dataproof.py wrote no JSON")
    return [Figure("dataproof", *row) for row in figures(data)]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script, its arguments (full and quick) and how to read its figures."""

    script: str
    full: list[str]
    quick: list[str]
    parse: Callable[[str, dict[str, Any] | None], list[Figure]]
    writes_json: bool = False


BENCHMARKS: dict[str, Benchmark] = {
    "prober": Benchmark(
        "bench_prober.py", [], ["--rounds", "1", "--cost-seconds", "10"], parse_prober
    ),
    "lab": Benchmark("bench_lab.py", [], ["--seconds", "2"], parse_lab),
    "inventory": Benchmark("bench_inventory.py", [], [], parse_inventory),
    "report": Benchmark("bench_report.py", [], ["--runs", "3"], parse_report),
    "overhead": Benchmark("bench_overhead.py", [], ["--runs", "2"], parse_overhead, True),
    "dataproof": Benchmark(
        "bench_dataproof.py",
        ["--repositories", "20000", "--full-repositories", "2000"],
        ["--repositories", "2000", "--full-repositories", "500", "--seconds", "3"],
        parse_dataproof,
        True,
    ),
}


def run_one(name: str, quick: bool) -> Outcome:
    """Run one benchmark in a subprocess and read its figures."""
    bench = BENCHMARKS[name]
    command = [PYTHON, str(HERE / bench.script), *(bench.quick if quick else bench.full)]
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        json_path = Path(tmp) / "figures.json"
        if bench.writes_json:
            command += ["--json", str(json_path)]
        outcome = Outcome(name, command)
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            outcome.error = f"did not finish within {BENCH_TIMEOUT_S:.0f} s"
            return outcome
        outcome.seconds = time.perf_counter() - started
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            outcome.error = f"exit {proc.returncode}: " + " / ".join(tail)
            return outcome
        data = json.loads(json_path.read_text()) if json_path.is_file() else None
        try:
            outcome.figures = bench.parse(proc.stdout, data)
        except BenchmarkFailed as exc:
            outcome.error = str(exc)
    return outcome


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, kernel and Python of this machine."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if match:
            cpu = match[1].strip()
    ram = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        if match:
            ram = f"{int(match[1]) / 1024 / 1024:.1f} GB"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }


def _status(figure: Figure) -> str:
    if figure.met is None:
        return ""
    return "met" if figure.met else "MISSED"


def results_markdown(outcomes: list[Outcome], quick: bool, stamp: datetime) -> str:
    """RESULTS.md: machine, date, every figure with its target and outcome."""
    lines = [
        "# Benchmark results",
        "",
        f"Run {stamp:%Y-%m-%d %H:%M} UTC with `.venv/bin/python benchmarks/run.py"
        f"{' --quick' if quick else ''}`"
        + (" (shortened runs: fewer rounds, runs and seconds per benchmark)" if quick else "")
        + ".",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine().items()),
        "",
        "The machine is shared with other test runs, so timings carry their noise; the ratios "
        "are measured within the same run.",
        "",
        "| benchmark | measure | result | target | outcome |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        if outcome.error:
            lines.append(f"| {outcome.name} | (not run) | {outcome.error} | | NOT MEASURED |")
        for f in outcome.figures:
            lines.append(f"| {f.benchmark} | {f.measure} | {f.value} | {f.target} | {_status(f)} |")
    missed = [f for o in outcomes for f in o.figures if f.met is False]
    if missed:
        lines += ["", "## Missed targets", ""]
        lines += [
            f"- {f.benchmark}, {f.measure} ({f.value}; target {f.target}): {f.cause}."
            for f in missed
        ]
    failed = [o for o in outcomes if o.error]
    if failed:
        lines += ["", "## Not measured", ""]
        lines += [f"- {o.name}: {o.error}" for o in failed]
    lines += [
        "",
        "## Commands",
        "",
        *(f"- {o.name} ({o.seconds:.0f} s): `{' '.join(_relative(o.command))}`" for o in outcomes),
    ]
    return "\n".join(lines) + "\n"


def merge_results(old: str, outcomes: list[Outcome], quick: bool, stamp: datetime) -> str:
    """`old` RESULTS.md with the table rows, missed-target lines and command lines of the
    benchmarks in `outcomes` replaced by theirs; every other line (other benchmarks' figures,
    sections written by hand) is kept as it is."""
    fresh = results_markdown(outcomes, quick, stamp).splitlines()
    names = {o.name for o in outcomes}
    # (section, line prefix after the name) of each kind of line a benchmark owns
    kinds = {
        "rows": ("", " |"),
        "missed": ("## Missed targets", ", "),
        "commands": ("## Commands", " ("),
    }
    lead = {"rows": "| ", "missed": "- ", "commands": "- "}

    def owner(line: str, kind: str) -> bool:
        return any(line.startswith(f"{lead[kind]}{n}{kinds[kind][1]}") for n in names)

    def fresh_lines(kind: str) -> list[str]:
        section, current = kinds[kind][0], ""
        found = []
        for line in fresh:
            current = line if line.startswith("## ") else current
            if current == section and owner(line, kind):
                found.append(line)
        if kind == "commands":  # the other lines keep their own run's date
            when = f"(run {stamp:%Y-%m-%d %H:%M} UTC, "
            found = [line.replace(" (", f" {when}", 1) for line in found]
        return found

    lines: list[str] = []
    first_replaced: dict[str, int] = {}
    after_last: dict[str, int] = {}
    section = ""
    for line in old.splitlines():
        section = line if line.startswith("## ") else section
        kind = next((k for k, (sec, _) in kinds.items() if sec == section), None)
        if kind is not None and owner(line, kind):
            first_replaced.setdefault(kind, len(lines))
            continue
        if kind is not None and line.startswith(lead[kind]):
            after_last[kind] = len(lines) + 1
        lines.append(line)
    inserts = []
    for kind in kinds:
        new = fresh_lines(kind)
        position = first_replaced.get(kind, after_last.get(kind))
        if new and position is None:  # a section the old file does not have
            new = ["", kinds[kind][0], "", *new]
            position = len(lines)
        if new and position is not None:
            inserts.append((position, new))
    for position, new in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[position:position] = new
    return "\n".join(lines) + "\n"


def _relative(command: list[str]) -> list[str]:
    out = [".venv/bin/python", str(Path(command[1]).relative_to(ROOT))]
    return out + [
        a for a in command[2:] if a != "--json" and not a.startswith(tempfile.gettempdir())
    ]


def print_table(outcomes: list[Outcome]) -> None:
    """The headline figures on stdout."""
    rows = [("benchmark", "measure", "result", "target", "outcome")]
    for o in outcomes:
        if o.error:
            rows.append((o.name, "(not run)", o.error[:80], "", "NOT MEASURED"))
        rows += [(f.benchmark, f.measure, f.value[:70], f.target, _status(f)) for f in o.figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def main() -> None:
    """Parse the arguments, run the benchmarks, print the table and write RESULTS.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="one benchmark")
    parser.add_argument("--quick", action="store_true", help="shorter runs where supported")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write RESULTS.md")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    stamp = datetime.now(UTC)
    outcomes = [run_one(name, args.quick) for name in names]
    print()
    print_table(outcomes)
    if args.only and args.results.is_file():
        text = merge_results(args.results.read_text(), outcomes, args.quick, stamp)
    else:
        text = results_markdown(outcomes, args.quick, stamp)
    args.results.write_text(text)
    print(f"\nwrote {args.results}")
    if any(o.error for o in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
