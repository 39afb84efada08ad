"""Harness overhead: full lab sessions against the bootstrapper's own run time.

    .venv/bin/python benchmarks/bench_overhead.py                 # 3 and 7 replicas, 3 runs each
    .venv/bin/python benchmarks/bench_overhead.py --json out.json # also write the figures as JSON

Each run is a fresh `pytest --target=lab --apply` session in a subprocess, with its own report
directory. The session's wall time is measured around the subprocess; the interpreter and pytest
start-up (`python -m pytest --version`, measured the same way) is subtracted, because an operator
pays it once whatever runs the upgrade. Overhead = that session time - the bootstrapper's run time
(`upgrade.duration_s` of result.json). Medians and ranges over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TO_VERSION = "2.6.4"
TARGET_RATIO = 0.10
TARGET_ABSOLUTE_S = 3.0
SESSION_TIMEOUT_S = 600.0


class BenchmarkError(RuntimeError):
    """A session did not produce the bundle this benchmark reads."""


@dataclass(frozen=True)
class Session:
    """One lab session's timings, in seconds."""

    replicas: int
    wall_s: float
    recorded_s: float
    upgrade_s: float
    attempts_s: float
    phases: dict[str, float]
    samples: int
    verdict: str


def interpreter_start(runs: int) -> float:
    """Median wall time of `python -m pytest --version`: interpreter and pytest start-up."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--version"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _seconds_between(started_at: str, finished_at: str) -> float:
    start = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    end = datetime.fromisoformat(finished_at.replace("Z", "+00:00"))
    return (end - start).total_seconds()


def session(replicas: int) -> Session:
    """Run one full lab session with `replicas` replicas and read its result.json."""
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        command = [
            PYTHON,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--target=lab",
            f"--to-version={TO_VERSION}",
            "--apply",
            f"--lab-replicas={replicas}",
            f"--report-dir={tmp}",
        ]
        started = time.perf_counter()
        proc = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=SESSION_TIMEOUT_S
        )
        wall = time.perf_counter() - started
        results = sorted(Path(tmp).glob("*/result.json"))
        if not results:
            raise BenchmarkError(
                f"the {replicas}-replica session (exit {proc.returncode}) wrote no result.json; "
                f"its output ends:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        data: dict[str, Any] = json.loads(results[-1].read_text())
    upgrade = data.get("upgrade") or {}
    if upgrade.get("duration_s") is None:
        raise BenchmarkError(
            f"the {replicas}-replica session recorded no upgrade run "
            f"(verdict {data.get('verdict')}: {data.get('verdict_reason')})"
        )
    attempts = [a for hop in upgrade.get("hops", []) for a in hop.get("attempts", [])]
    endpoints = (data.get("availability") or {}).get("endpoints", {})
    return Session(
        replicas=replicas,
        wall_s=wall,
        recorded_s=_seconds_between(data["started_at"], data["finished_at"]),
        upgrade_s=float(upgrade["duration_s"]),
        attempts_s=sum(float(a["duration_s"]) for a in attempts),
        phases={name: float(p["duration_s"]) for name, p in data.get("phases", {}).items()},
        samples=sum(int(e.get("samples", 0)) for e in endpoints.values()),
        verdict=str(data.get("verdict")),
    )


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def summarise(sessions: list[Session], start_s: float) -> dict[str, Any]:
    """Medians and ranges per replica count, with the targets' outcome."""
    out: dict[str, Any] = {"interpreter_start_s": start_s, "configurations": []}
    for replicas in sorted({s.replicas for s in sessions}):
        runs = [s for s in sessions if s.replicas == replicas]
        overhead = [s.wall_s - start_s - s.upgrade_s for s in runs]
        ratio = [o / s.upgrade_s for o, s in zip(overhead, runs, strict=True)]
        phases = sorted({name for s in runs for name in s.phases})
        out["configurations"].append(
            {
                "replicas": replicas,
                "runs": [asdict(s) for s in runs],
                "wall_s": statistics.median(s.wall_s for s in runs),
                "upgrade_s": statistics.median(s.upgrade_s for s in runs),
                "overhead_s": statistics.median(overhead),
                "overhead_min_s": min(overhead),
                "overhead_max_s": max(overhead),
                "breakdown_s": {
                    "before result.json's span (imports, collection)": statistics.median(
                        s.wall_s - start_s - s.recorded_s for s in runs
                    ),
                    "preflight": statistics.median(s.phases.get("preflight", 0.0) for s in runs),
                    "upgrade phase beyond the bootstrapper": statistics.median(
                        s.phases.get("upgrade", 0.0) - s.upgrade_s for s in runs
                    ),
                    "post": statistics.median(s.phases.get("post", 0.0) for s in runs),
                    "outside phases (lab start, bundle)": statistics.median(
                        s.recorded_s - sum(s.phases.values()) for s in runs
                    ),
                },
                "overhead_ratio": statistics.median(ratio),
                "phases_s": {
                    n: statistics.median(s.phases.get(n, 0.0) for s in runs) for n in phases
                },
                "absolute_met": statistics.median(overhead) < TARGET_ABSOLUTE_S,
                "ratio_met": statistics.median(ratio) < TARGET_RATIO,
            }
        )
    return out


def report(sessions: list[Session], start_s: float, summary: dict[str, Any]) -> str:
    """The markdown section: per configuration, wall, bootstrapper, phases and overhead."""
    lines = [
        "## Harness overhead",
        "",
        f"Full lab sessions (`pytest --target=lab --to-version={TO_VERSION} --apply "
        "--lab-replicas=N`), each a fresh process; median (range) over "
        f"{len(sessions) // max(1, len(summary['configurations']))} runs. "
        f"Interpreter and pytest start-up ({start_s:.2f} s, `python -m pytest --version`) "
        "is subtracted from the wall time. Overhead = session - bootstrapper run time "
        "(`upgrade.duration_s`). Preflight includes the data-intact baseline; post includes "
        "settling (health polled once a second) and the data-intact inventory; outside phases is "
        "the rest of result.json's span (lab start, collection, the bundle).",
        "",
        "| replicas | session wall s | result.json span s | bootstrapper s | attempts s "
        "| preflight s | upgrade phase s | post s | outside phases s | prober samples | overhead s "
        "| overhead / bootstrapper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in summary["configurations"]:
        runs = [s for s in sessions if s.replicas == config["replicas"]]
        overhead = [s.wall_s - start_s - s.upgrade_s for s in runs]
        ratio = [o / s.upgrade_s for o, s in zip(overhead, runs, strict=True)]
        lines.append(
            f"| {config['replicas']} | {_spread([s.wall_s for s in runs])} "
            f"| {_spread([s.recorded_s for s in runs])} "
            f"| {_spread([s.upgrade_s for s in runs])} "
            f"| {_spread([s.attempts_s for s in runs])} "
            f"| {_spread([s.phases.get('preflight', 0.0) for s in runs])} "
            f"| {_spread([s.phases.get('upgrade', 0.0) for s in runs])} "
            f"| {_spread([s.phases.get('post', 0.0) for s in runs])} "
            f"| {_spread([s.recorded_s - sum(s.phases.values()) for s in runs])} "
            f"| {statistics.median(s.samples for s in runs):.0f} "
            f"| {_spread(overhead)} "
            f"| {statistics.median(ratio):.0%} ({min(ratio):.0%}-{max(ratio):.0%}) |"
        )
    lines += ["", "Targets: under 3 s and under 10% of the bootstrapper's run time."]
    for config in summary["configurations"]:
        lines.append(
            f"- {config['replicas']} replicas: under 3 s "
            f"{'met' if config['absolute_met'] else 'MISSED'} ({config['overhead_s']:.2f} s); "
            f"under 10% {'met' if config['ratio_met'] else 'MISSED'} "
            f"({config['overhead_ratio']:.0%})."
        )
    lines += [
        "",
        "HTTP requests per phase are not instrumented; the prober's samples over the whole "
        "session are shown instead (every endpoint, fresh and kept-alive).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the sessions, print the section, optionally write the figures as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[3, 7])
    parser.add_argument("--runs", type=int, default=3, help="sessions per replica count")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    if args.runs < 1 or any(r < 1 for r in args.replicas):
        parser.error("--runs and --replicas must be at least 1")
    start_s = interpreter_start(args.runs)
    print(f"interpreter + pytest start-up: {start_s:.2f} s", flush=True)
    sessions = []
    for replicas in args.replicas:
        for run in range(args.runs):
            try:
                result = session(replicas)
            except (BenchmarkError, subprocess.TimeoutExpired) as exc:
                sys.exit(f"bench_overhead: {exc}")
            print(
                f"{replicas} replicas, run {run + 1}: wall {result.wall_s:.2f} s, "
                f"bootstrapper {result.upgrade_s:.2f} s, verdict {result.verdict}",
                flush=True,
            )
            sessions.append(result)
    summary = summarise(sessions, start_s)
    print()
    print(report(sessions, start_s, summary))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
