"""Lab capacity: 10,000 repositories x 5 tags, and requests/s on the load-balanced endpoint.

    .venv/bin/python benchmarks/bench_lab.py [--repositories 10000] [--tags 5] [--seconds 5]

Scale: start a lab with generated repositories, page through every repository with the DTR API,
list a sample of tag pages, and materialise every manifest (what a data-intact baseline does).
Throughput: client processes (separate from the lab's, as real clients are) each keep one
HTTP/1.1 connection alive over verified TLS and send requests back to back for a fixed time.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import platform
import resource
import ssl
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from dtrlab import Lab, LabConfig


def client_loop(
    url: str, ca_pem: str, path: str, auth: str | None, seconds: float, out: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    """Send `GET path` on one kept-alive connection for `seconds`; report (ok, errors)."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cadata=ca_pem)
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port, context=context, timeout=10
    )
    headers = {"Authorization": auth} if auth else {}
    ok = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                ok += 1
            else:
                errors += 1
        except OSError:
            errors += 1
            conn.close()
    conn.close()
    out.put((ok, errors))


def throughput(
    lab: Lab, path: str, auth: str | None, clients: int, seconds: float
) -> tuple[float, int]:
    """Requests/s the load balancer answered with 200 across `clients` processes."""
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=client_loop, args=(lab.url, lab.ca_pem, path, auth, seconds, out))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    return sum(ok for ok, _ in results) / seconds, sum(err for _, err in results)


def scale(repositories: int, tags: int) -> list[tuple[str, str]]:
    """Start a big lab and walk it the way a baseline does; return (measure, value) rows."""
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    with Lab(LabConfig(repositories=repositories, tags_per_repo=tags)) as lab:
        rows.append(
            (
                f"start lab with {repositories:,} repos x {tags} tags",
                f"{time.perf_counter() - started:.2f} s",
            )
        )
        auth = (
            "Basic "
            + base64.b64encode(
                f"{lab.credentials.username}:{lab.credentials.password}".encode()
            ).decode()
        )
        parts = urlsplit(lab.url)
        conn = http.client.HTTPSConnection(
            parts.hostname or "",
            parts.port,
            context=ssl.create_default_context(cadata=lab.ca_pem),
            timeout=30,
        )
        t0 = time.perf_counter()
        seen, start, pages = 0, "", 0
        while True:
            query = "/api/v0/repositories?pageSize=1000" + (f"&pageStart={start}" if start else "")
            conn.request("GET", query, headers={"Authorization": auth})
            response = conn.getresponse()
            body = response.read()
            seen += body.count(b'"namespaceType"')
            pages += 1
            start = response.getheader("X-Next-Page-Start") or ""
            if not start:
                break
        rows.append(
            (
                f"page all repositories (pageSize 1000, {pages} pages)",
                f"{time.perf_counter() - t0:.2f} s, {seen:,} repos",
            )
        )
        t0 = time.perf_counter()
        sample = 500
        for i in range(sample):
            conn.request(
                "GET",
                f"/api/v0/repositories/org{i % 100:03d}/repo{i:05d}/tags",
                headers={"Authorization": auth},
            )
            conn.getresponse().read()
        elapsed = time.perf_counter() - t0
        rows.append(
            (
                f"tag lists of {sample} repositories (serial, one connection)",
                f"{elapsed:.2f} s ({sample / elapsed:.0f}/s)",
            )
        )
        conn.close()
        t0 = time.perf_counter()
        snapshot = lab.store.snapshot()
        total = sum(len(t) for t in snapshot.values())
        rows.append(
            (
                "materialise every manifest (in process)",
                f"{time.perf_counter() - t0:.2f} s, {total:,} tags",
            )
        )
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(("peak RSS of the lab process", f"{rss_mb:.0f} MB"))
    return rows


def main() -> None:
    """Run both measurements and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    started = time.perf_counter()
    with Lab(LabConfig()):
        ready = time.perf_counter() - started
    rows = [("start 3 replicas + LB + UCP with demo data", f"{ready:.3f} s")]
    rows += scale(args.repositories, args.tags)
    with Lab(LabConfig()) as lab:
        auth = (
            "Basic "
            + base64.b64encode(
                f"{lab.credentials.username}:{lab.credentials.password}".encode()
            ).decode()
        )
        for path, header, label in (
            ("/_ping", None, "/_ping"),
            ("/api/v0/meta/features", auth, "features (basic auth)"),
        ):
            for clients in (1, 4, 8):
                rate, errors = throughput(lab, path, header, clients, args.seconds)
                rows.append(
                    (
                        f"LB {label}, {clients} keep-alive clients",
                        f"{rate:,.0f} req/s ({errors} errors)",
                    )
                )
    print(
        f"DTR lab benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {platform.node()}, "
        f"{multiprocessing.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)} | result")
    print(f"{'-' * width}-|-------")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
