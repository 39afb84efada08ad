"""Benchmark of the availability prober: how accurately it measures outages, and what it costs.

    .venv/bin/python benchmarks/bench_prober.py                  # accuracy (3 rounds) + cost (20 s)
    .venv/bin/python benchmarks/bench_prober.py --rounds 1 --cost-seconds 10
    .venv/bin/python benchmarks/bench_prober.py --update-readme  # also rewrite the README section

Accuracy: a local HTTPS endpoint (real TLS, trustme CA) is switched off (listening socket closed,
open connections reset) for 0.5, 2, 5 and 8 s. In the same run, on the same endpoint, the prober
at its default interval and a 1 s sampler (the same prober at 1 s, the resolution of the usual
disruption monitors) both measure the longest outage, over a fresh and a kept-alive connection.
Each round starts the outage at a random phase against the sampling grids and lasts the nominal
length plus a random part (up to +-0.5 s, +-25% for 0.5 s): an outage of exactly 2.000 s would be
measured by a 1 s sampler with errors that cancel, which real outages do not allow. The truth is
the midpoint of the down()/up() calls on the benchmark's own monotonic clock.

Cost: the prober samples 1 load balancer + 3 replicas (the standard target set: `/_ping` and an
authenticated `/v2/` on the LB, `/_ping` on each replica, each over a fresh and a kept-alive
connection: 10 targets) served by a separate process, so this process's CPU is the sampler's.
It reports the sampling threads' own CPU time (thread_time) and this process's CPU time
(getrusage) per minute of sampling, as a share of one core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import trustme
from readme import add_update_readme, publish  # benchmarks/readme.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project, for tests.support
from tests.support.switchable import SwitchableServer, client_context, server_context
from upgrade.procedure.probe_targets import ProbeTarget, endpoint_targets
from upgrade.procedure.prober import DEFAULT_INTERVAL_S, Prober

OUTAGES_S = (0.5, 2.0, 5.0, 8.0)
COARSE_INTERVAL_S = 1.0
# An outage lasting an exact multiple of a sampler's interval is measured by it with errors that
# cancel (both ends lag by the same phase); real outages are not locked to a monitor's grid, so
# each injected outage lasts its nominal length plus a random part of up to +-0.5 s.
JITTER_S = 0.5
SECTION = "## Prober"
REGISTRY_AUTHORIZATION = "Bearer benchmark-token"


# ------------------------------------------------------------------------------------------
# accuracy


@dataclass
class Trial:
    injected_s: float
    true_s: float
    connection: str
    fine_s: float
    coarse_s: float

    @property
    def fine_error(self) -> float:
        return self.fine_s - self.true_s

    @property
    def coarse_error(self) -> float:
        return self.coarse_s - self.true_s


def accuracy(rounds: int, seed: int) -> list[Trial]:
    """Inject each outage `rounds` times; measure it with both samplers at once."""
    rng = random.Random(seed)
    ca = trustme.CA()
    server = SwitchableServer(server_context(ca), REGISTRY_AUTHORIZATION)
    server.up()
    verify = client_context(ca)
    trials: list[Trial] = []
    try:
        for _ in range(rounds):
            for injected in OUTAGES_S:
                targets = [
                    ProbeTarget("fresh", server.url("/_ping"), keep_alive=False),
                    ProbeTarget("keep-alive", server.url("/_ping"), keep_alive=True),
                ]
                fine = Prober(targets, DEFAULT_INTERVAL_S, verify=verify)
                coarse = Prober(targets, COARSE_INTERVAL_S, verify=verify)
                spread = min(JITTER_S, injected / 2)
                with fine, coarse:
                    time.sleep(1.0 + rng.random())
                    began = time.monotonic()
                    server.down()
                    went_down = (began + time.monotonic()) / 2
                    time.sleep(injected + rng.uniform(-spread, spread))
                    began = time.monotonic()
                    server.up()
                    came_up = (began + time.monotonic()) / 2
                    time.sleep(2.0 + COARSE_INTERVAL_S)
                fine_result, coarse_result = fine.result(), coarse.result()
                for name in ("fresh", "keep-alive"):
                    trials.append(
                        Trial(
                            injected,
                            came_up - went_down,
                            name,
                            fine_result.endpoints[name].longest_outage_s,
                            coarse_result.endpoints[name].longest_outage_s,
                        )
                    )
                print(
                    f"  nominal {injected:>4} s: prober "
                    + ", ".join(f"{t.connection} {t.fine_s:.3f}" for t in trials[-2:])
                    + f"; 1 s sampler {trials[-1].coarse_s:.3f} (true {came_up - went_down:.3f})",
                    flush=True,
                )
    finally:
        server.down()
    return trials


# ------------------------------------------------------------------------------------------
# cost


def serve(directory: Path) -> None:
    """Child process: 1 LB + 3 replicas; print their ports; serve until stdin closes."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem")
    servers = [SwitchableServer(context, REGISTRY_AUTHORIZATION) for _ in range(4)]
    for server in servers:
        server.up()
    print(json.dumps([s.port for s in servers]), flush=True)
    sys.stdin.read()
    for server in servers:
        server.down()


@dataclass
class Cost:
    seconds: float
    targets: int
    samples: int
    failed: int
    thread_cpu_s: float
    process_cpu_s: float

    def per_minute(self, cpu_s: float) -> float:
        return cpu_s * 60 / self.seconds

    def share(self, cpu_s: float) -> float:
        return cpu_s / self.seconds


def cost(seconds: float) -> Cost:
    """Sample 10 targets at the default interval for `seconds` against another process."""
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cert = ca.issue_cert("localhost", "127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            ports = json.loads(child.stdout.readline())
            lb, *replicas = (f"https://localhost:{port}" for port in ports)
            targets = endpoint_targets(
                lb,
                {f"{i:012x}": url for i, url in enumerate(replicas, 1)},
                registry_headers=lambda: {"Authorization": REGISTRY_AUTHORIZATION},
            )
            prober = Prober(targets, verify=client_context(ca))
            before = resource.getrusage(resource.RUSAGE_SELF)
            began = time.monotonic()
            with prober:
                time.sleep(seconds)
            elapsed = time.monotonic() - began
            after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
    result = prober.result()
    return Cost(
        seconds=elapsed,
        targets=len(targets),
        samples=sum(e.samples for e in result.endpoints.values()),
        failed=sum(e.failed_samples for e in result.endpoints.values()),
        thread_cpu_s=prober.cpu_s,
        process_cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )


# ------------------------------------------------------------------------------------------
# report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}"
    )


def report(trials: list[Trial], rounds: int, spent: Cost) -> str:
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {machine()}.",
        "Reproduce: `.venv/bin/python benchmarks/bench_prober.py --update-readme`.",
        "",
        f"### Accuracy: longest outage measured, {rounds} round(s) per injected outage",
        "",
        "Local HTTPS endpoint switched off (listener closed, connections reset); the prober at "
        f"{DEFAULT_INTERVAL_S:g} s and a {COARSE_INTERVAL_S:g} s sampler measure the same outage "
        "in the same run. Each outage starts at a random phase and lasts its nominal length "
        "plus up to +-0.5 s at random (+-0.25 s for 0.5 s), because an exact multiple of 1 s is "
        "measured by a 1 s sampler with errors that cancel. Error = measured - true (true = "
        "midpoint of the down/up calls on the benchmark's monotonic clock); rel. = mean of "
        "abs error / true.",
        "",
        "| nominal | connection | true s (mean) | prober error s: mean / max abs | "
        "prober rel. | 1 s sampler error s: mean / max abs | 1 s rel. | "
        "1 s / prober (mean abs) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for injected in OUTAGES_S:
        for connection in ("fresh", "keep-alive"):
            group = [t for t in trials if t.injected_s == injected and t.connection == connection]
            fine = [abs(t.fine_error) for t in group]
            coarse = [abs(t.coarse_error) for t in group]
            lines.append(
                f"| {injected:g} s | {connection} | "
                f"{statistics.mean(t.true_s for t in group):.3f} | "
                f"{statistics.mean(t.fine_error for t in group):+.3f} / {max(fine):.3f} | "
                f"{statistics.mean(abs(t.fine_error) / t.true_s for t in group):.1%} | "
                f"{statistics.mean(t.coarse_error for t in group):+.3f} / {max(coarse):.3f} | "
                f"{statistics.mean(abs(t.coarse_error) / t.true_s for t in group):.1%} | "
                f"{_ratio(coarse, fine)} |"
            )
    fine_all = [abs(t.fine_error) for t in trials]
    coarse_all = [abs(t.coarse_error) for t in trials]
    bound = DEFAULT_INTERVAL_S + 0.05
    within = sum(1 for e in fine_all if e <= bound)
    ratio = statistics.mean(coarse_all) / max(statistics.mean(fine_all), 1e-9)
    lines += [
        "",
        f"Over all {len(trials)} measurements: prober mean abs error "
        f"{statistics.mean(fine_all):.3f} s (max {max(fine_all):.3f} s); 1 s sampler "
        f"{statistics.mean(coarse_all):.3f} s (max {max(coarse_all):.3f} s); ratio {ratio:.1f}x.",
        f"Target: every prober error within interval + 50 ms ({bound:.2f} s): "
        f"{within}/{len(fine_all)} {'met' if within == len(fine_all) else 'MISSED'}; "
        f"at least 8x smaller than the 1 s sampler's (mean abs): "
        f"{'met' if ratio >= 8 else 'MISSED'} ({ratio:.1f}x).",
        "",
        "### Cost: 1 load balancer + 3 replicas at the default interval",
        "",
        f"{spent.targets} targets (LB `/_ping` and authenticated `/v2/`, 3 replica `/_ping`, "
        f"each fresh and kept-alive), {spent.samples} samples ({spent.failed} failed) in "
        f"{spent.seconds:.1f} s, servers in another process; scaled to one minute.",
        "",
        "| measure | CPU s per minute | share of one core |",
        "|---|---|---|",
        f"| sampling threads (thread_time) | {spent.per_minute(spent.thread_cpu_s):.2f} | "
        f"{spent.share(spent.thread_cpu_s):.1%} |",
        f"| whole benchmark process (getrusage) | {spent.per_minute(spent.process_cpu_s):.2f} | "
        f"{spent.share(spent.process_cpu_s):.1%} |",
        "",
        f"Target under 10% of one core: "
        f"{'met' if spent.share(spent.process_cpu_s) < 0.10 else 'MISSED'}.",
        "",
    ]
    return "\n".join(lines)


def _ratio(coarse: list[float], fine: list[float]) -> str:
    mean_fine = statistics.mean(fine)
    if mean_fine <= 0:
        return "n/a"
    return f"{statistics.mean(coarse) / mean_fine:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per injected outage")
    parser.add_argument("--cost-seconds", type=float, default=20.0, help="cost run length")
    parser.add_argument("--seed", type=int, default=20261126, help="phase randomisation seed")
    add_update_readme(parser)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    print(f"accuracy: {args.rounds} round(s) of {', '.join(f'{s:g}' for s in OUTAGES_S)} s")
    trials = accuracy(args.rounds, args.seed)
    print(f"cost: {args.cost_seconds:g} s against 1 LB + 3 replicas")
    spent = cost(args.cost_seconds)
    section = report(trials, args.rounds, spent)
    print()
    publish(SECTION, section, update=args.update_readme)


if __name__ == "__main__":
    main()
