"""The data-plane proof and the inventory at registry scale, against the lab's own ceiling.

    .venv/bin/python benchmarks/bench_dataproof.py [--repositories 100000] [--tags 10]
        [--full-repositories 10000] [--sample 1000] [--seconds 8] [--json FILE]

The lab runs in its own process (as a DTR is another machine) with `--repositories` x `--tags`
generated tags. In this process, the harness's own code:

1. the inventory (`upgrade.cluster.inventory.snapshot`, what PRE-BASELINE and POST-DATA-INTACT
   run): a first walk builds every manifest in the lab (timed, "cold"), a second is the one
   measured; the baseline of all of it is then written as `baseline.json` is, and the peak
   memory (ru_maxrss) of this process is read;
2. the sampled proof (`--data-proof=sample:N`, `upgrade.cluster.dataproof_run.prove`) over the
   whole inventory, twice (preflight and post): the time it adds to a session;
3. the full proof over the first `--full-repositories` repositories' tags (all of them when
   that is the whole inventory).

The lab's maximum request rate is measured in the same run for each request mix by a load
generator outside this process (2 processes x 8 threads of keep-alive `requests` sessions, a
token fetched once), replaying the same requests for `--seconds`: the tag lists for the
inventory, and each repository's manifest GETs by digest plus its distinct blob HEADs for the
proof. The ratio is the harness's rate over that ceiling; the harness also spends its token
requests (one per few repositories, and the 401s that name the realm), which are counted in its
requests: every request its registry client sends is counted.
"""

from __future__ import annotations

import argparse
import faulthandler
import itertools
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOAD_PROCESSES = 2
LOAD_THREADS = 8
TARGET_RATIO = 0.8
TARGET_MEMORY_MB = 1024.0
TARGET_SAMPLED_S = 10.0


def serve(repositories: int, tags: int, ready: Any, stop: Any) -> None:  # pragma: no cover
    """The lab with generated repositories, until `stop`."""
    from dtrlab import Lab, LabConfig

    config = LabConfig(repositories=repositories, tags_per_repo=tags, token_lifetime=3600.0)
    with Lab(config) as lab:
        creds = lab.credentials
        ready.put((lab.url, lab.ca_pem, creds.username, creds.password))
        stop.wait(7200)


def _sample_load(loads: list[float], stop: Any) -> None:
    """The 1-minute load average every 30 s while the benchmark runs (the machine is shared)."""
    while not stop.wait(30):
        loads.append(os.getloadavg()[0])


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the lab's ceiling: a load generator in other processes ----------------------------------


def _load_worker(
    url: str,
    ca: str,
    user: str,
    password: str,
    kind: str,
    work: list[Any],
    seconds: float,
    out: Any,
) -> None:  # pragma: no cover - runs in a load process
    from upgrade.clients.http import new_session

    session = new_session(ca, pool_size=LOAD_THREADS)
    if kind == "registry":
        token = session.get(
            f"{url}/auth/token", auth=(user, password), timeout=30, verify=ca
        ).json()["token"]
        session.headers["Authorization"] = f"Bearer {token}"
    else:
        session.auth = (user, password)
    counts = [0] * LOAD_THREADS
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    def run(index: int) -> None:
        for item in itertools.cycle(work[index::LOAD_THREADS] or work):
            if time.perf_counter() >= deadline:
                return
            if kind == "registry":
                repo, digests, blobs = item
                for digest in digests:
                    _ = session.get(
                        f"{url}/v2/{repo}/manifests/{digest}", timeout=30, verify=ca
                    ).content
                    counts[index] += 1
                for blob in blobs:
                    session.head(f"{url}/v2/{repo}/blobs/{blob}", timeout=30, verify=ca)
                    counts[index] += 1
            else:
                session.get(
                    f"{url}/api/v0/repositories/{item}/tags?pageSize=100", timeout=30, verify=ca
                )
                counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sum(counts), time.perf_counter() - started))


def ceiling(
    url: str, ca: str, user: str, password: str, kind: str, work: list[Any], s: float
) -> float:
    """Requests per second the lab answers to `LOAD_PROCESSES` x `LOAD_THREADS` clients."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    chunks = [work[i::LOAD_PROCESSES] for i in range(LOAD_PROCESSES)]
    procs = [
        context.Process(target=_load_worker, args=(url, ca, user, password, kind, chunk, s, out))
        for chunk in chunks
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=s + 120) for _ in procs]
    for proc in procs:
        proc.join(30)
    return sum(count for count, _ in results) / max(elapsed for _, elapsed in results)


def proof_work(
    registry: Any, inventory: Mapping[str, Mapping[str, str]], repositories: int
) -> list[tuple[str, list[str], list[str]]]:
    """The proof's requests for `repositories` repositories: (repo, manifest digests, blobs)."""
    from upgrade.cluster.dataproof import references

    work = []
    for repo in list(inventory)[:repositories]:
        digests = sorted(set(inventory[repo].values()))
        blobs: dict[str, None] = {}
        for digest in digests:
            fetched = registry.fetch_manifest(repo, digest)
            blobs.update(dict.fromkeys(references(fetched.media_type, fetched.body).blobs))
        work.append((repo, digests, list(blobs)))
    return work


def baseline_memory(tags: int, per_repository: int) -> dict[str, float]:
    """Peak memory of a fresh process holding a `tags`-tag inventory shaped as `snapshot`
    returns it (one digest string per tag, as parsed from JSON) and writing it as baseline.json,
    plus a sampled proof's choice over it; run in its own process so the peak is its own."""
    import hashlib

    from upgrade.cluster.baseline import Baseline
    from upgrade.cluster.dataproof import chosen_manifests
    from upgrade.config.proof_mode import ProofMode

    start = peak_rss_mb()
    inventory = {}
    for r in range(tags // per_repository):
        name = f"org{r % 100:03d}/repo{r:06d}"
        inventory[name] = {
            f"v{t + 1}": "sha256:" + hashlib.sha256(f"{name}:{t}".encode()).hexdigest()
            for t in range(per_repository)
        }
    held = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        Baseline(datetime.now(UTC), "https://dtr", {"a": "2.5.11"}, inventory).save(
            Path(tmp) / "baseline.json"
        )
        save_s = time.perf_counter() - t
    saved = peak_rss_mb()
    t = time.perf_counter()
    _, chosen = chosen_manifests(inventory, ProofMode("sample", 1000), 1)
    choose_s = time.perf_counter() - t
    return {
        "tags": float(tags),
        "interpreter_mb": round(start, 1),
        "inventory_held_mb": round(held, 1),
        "after_save_mb": round(saved, 1),
        "save_s": round(save_s, 2),
        "after_sample_choice_mb": round(peak_rss_mb(), 1),
        "sample_choice_s": round(choose_s, 2),
        "chosen": float(len(chosen)),
    }


# -- the harness's runs ----------------------------------------------------------------------


def counting(client: Any) -> list[int]:
    """Count every HTTP request `client` sends (token requests and 401s included)."""
    sent = [0]
    lock = threading.Lock()
    send = client.http.request

    def request(*args: Any, **kwargs: Any) -> Any:
        with lock:
            sent[0] += 1
        return send(*args, **kwargs)

    client.http.request = request
    return sent


def sent_by(sent: list[int], result: Any) -> int:
    """The requests a proof sent: counted on the client when it ran in this process; with
    worker processes (whose clients this process cannot count) its manifest and blob requests,
    without the token requests, so the rate is a lower bound."""
    return sent[0] if sent[0] > result.coverage.requests else result.coverage.requests


def main() -> None:
    """Measure, print the figures and the section, write --json."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repositories", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--full-repositories", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=16)
    # as a session proves: worker processes for a large proof (upgrade.cluster.dataproof_run)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--memory-tags", type=int, default=1_000_000)
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from upgrade.cluster.dataproof_run import DEFAULT_PROCESSES

    processes = DEFAULT_PROCESSES if args.processes is None else args.processes
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` shows where a long run is
    if args.memory_only:
        print(json.dumps(baseline_memory(args.memory_tags, args.tags)))
        return

    from upgrade.clients.dtr import DTRClient
    from upgrade.clients.registry import RegistryClient
    from upgrade.clients.secrets import DTRCredentials
    from upgrade.cluster.baseline import Baseline
    from upgrade.cluster.dataproof_run import prove
    from upgrade.cluster.inventory import snapshot
    from upgrade.config.proof_mode import ProofMode

    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    lab = context.Process(target=serve, args=(args.repositories, args.tags, ready, stop))
    began = time.perf_counter()
    lab.start()
    figures: dict[str, Any] = {"repositories": args.repositories, "tags_per_repository": args.tags}
    loads = [os.getloadavg()[0]]
    sampler = threading.Thread(target=_sample_load, args=(loads, stop), daemon=True)
    sampler.start()
    try:
        url, ca_pem, user, password = ready.get(timeout=600)
        figures["lab_start_s"] = round(time.perf_counter() - began, 2)
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as ca:
            ca.write(ca_pem)
        creds = DTRCredentials.of(user, password=password)
        pool = max(args.workers, 4)
        with (
            DTRClient(url, creds, verify=ca.name, pool_size=pool) as dtr,
            RegistryClient(url, creds, verify=ca.name, pool_size=pool) as registry,
        ):
            t = time.perf_counter()
            inventory = snapshot(
                dtr, registry, workers=args.workers, processes=processes, timeout_s=7200
            )
            figures["inventory_cold_s"] = round(time.perf_counter() - t, 2)
            print(f"inventory (cold): {figures['inventory_cold_s']} s", flush=True)
            t = time.perf_counter()
            inventory = snapshot(
                dtr, registry, workers=args.workers, processes=processes, timeout_s=7200
            )
            seconds = time.perf_counter() - t
            tag_count = sum(len(tags) for tags in inventory.values())
            inventory_requests = len(inventory) + -(-len(inventory) // 100)
            figures["inventory"] = {
                "seconds": round(seconds, 2),
                "repositories": len(inventory),
                "tags": tag_count,
                "requests": inventory_requests,
                "rate": round(inventory_requests / seconds, 1),
            }
            baseline = Baseline(datetime.now(UTC), url, {"lab": "2.5.11"}, inventory)
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                baseline.save(Path(tmp) / "baseline.json")
                figures["baseline_file"] = {
                    "seconds": round(time.perf_counter() - t, 2),
                    "mb": round((Path(tmp) / "baseline.json").stat().st_size / 2**20, 1),
                }
            figures["baseline_peak_rss_mb"] = round(peak_rss_mb(), 1)
            print(
                f"inventory (warm): {figures['inventory']}; peak RSS "
                f"{figures['baseline_peak_rss_mb']} MB",
                flush=True,
            )
            names = list(inventory)[:20_000]
            figures["inventory"]["lab_ceiling"] = round(
                ceiling(url, ca.name, user, password, "dtr", names, args.seconds), 1
            )
            figures["inventory"]["ratio"] = round(
                figures["inventory"]["rate"] / figures["inventory"]["lab_ceiling"], 2
            )
            print(f"inventory ceiling: {figures['inventory']['lab_ceiling']} req/s", flush=True)

            sampled = []
            sampled_requests: list[int] = []
            for phase in ("preflight", "post"):
                fresh = RegistryClient(url, creds, verify=ca.name, pool_size=pool)
                sent = counting(fresh)
                with fresh:
                    result = prove(
                        fresh,
                        inventory,
                        ProofMode("sample", args.sample),
                        1234,
                        workers=args.workers,
                        processes=processes,
                    )
                sampled.append(result)
                sampled_requests.append(sent_by(sent, result))
                print(
                    f"sampled proof ({phase}): {result.seconds:.2f} s, {sent[0]} requests, "
                    f"{result.coverage.as_dict()}",
                    flush=True,
                )
            figures["sampled"] = {
                "sample": args.sample,
                "seconds_each": [round(r.seconds, 2) for r in sampled],
                "session_added_s": round(sum(r.seconds for r in sampled), 2),
                "requests_each": sampled_requests,
                "coverage": sampled[0].coverage.as_dict(),
                "failures": len(sampled[0].failures) + len(sampled[1].failures),
            }

            subset = dict(itertools.islice(inventory.items(), args.full_repositories))
            with RegistryClient(url, creds, verify=ca.name, pool_size=pool) as fresh:
                sent = counting(fresh)
                full = prove(
                    fresh, subset, ProofMode("full"), 1, workers=args.workers, processes=processes
                )
            requests_made = sent_by(sent, full)
            figures["full"] = {
                "repositories": len(subset),
                "tags": sum(len(t) for t in subset.values()),
                "seconds": round(full.seconds, 2),
                "coverage": full.coverage.as_dict(),
                "requests_with_tokens": requests_made,
                "rate": round(requests_made / full.seconds, 1),
                "failures": len(full.failures),
            }
            print(f"full proof of {len(subset):,} repositories: {figures['full']}", flush=True)
            work = proof_work(registry, subset, min(len(subset), 1000))
            figures["full"]["lab_ceiling"] = round(
                ceiling(url, ca.name, user, password, "registry", work, args.seconds), 1
            )
            figures["full"]["ratio"] = round(
                figures["full"]["rate"] / figures["full"]["lab_ceiling"], 2
            )
            figures["full"]["extrapolated_s"] = round(
                full.seconds * len(inventory) / max(len(subset), 1), 0
            )
            print(f"proof ceiling: {figures['full']['lab_ceiling']} req/s", flush=True)
        os.unlink(ca.name)
    finally:
        stop.set()
        lab.join(60)
        if lab.is_alive():
            lab.terminate()
            lab.join(5)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["load_average"] = [round(x, 1) for x in loads]
    memory = subprocess.run(  # a fresh interpreter: ru_maxrss survives fork + exec
        [
            sys.executable,
            __file__,
            "--memory-only",
            f"--memory-tags={args.memory_tags}",
            f"--tags={args.tags}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures["baseline_1m"] = json.loads(memory.stdout.strip().splitlines()[-1])
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
