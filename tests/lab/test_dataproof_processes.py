"""The data proof shared by worker processes gives what the thread pool gives, ends its workers
when it is stopped, and its workers end when the session's process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from dtrlab import Lab
from tests.lab.sessions import ROOT
from upgrade.clients.registry import RegistryClient
from upgrade.clients.secrets import DTRCredentials
from upgrade.cluster.dataproof import Coverage, Failure
from upgrade.cluster.dataproof_processes import prove_processes
from upgrade.cluster.dataproof_run import PROCESS_MIN_REPOSITORIES, prove
from upgrade.cluster.worker_pool import close_pool
from upgrade.config.proof_mode import parse_proof_mode
from upgrade.errors import HarnessError

REPOSITORIES = PROCESS_MIN_REPOSITORIES + 16
Inventory = dict[str, dict[str, str]]


@pytest.fixture
def big_lab(make_lab: Callable[..., Lab]) -> Lab:
    return make_lab(repositories=REPOSITORIES, tags_per_repo=2)


@pytest.fixture
def registry(big_lab: Lab) -> Iterator[RegistryClient]:
    creds = DTRCredentials.of(big_lab.credentials.username, password=big_lab.credentials.password)
    with RegistryClient(big_lab.url, creds, verify=big_lab.ca_path) as client:
        yield client


def _inventory(registry: RegistryClient) -> Inventory:
    return {
        repo: {tag: registry.manifest_digest(repo, tag) for tag in registry.tags(repo)}
        for repo in registry.catalog()
    }


def _children(pid: int) -> set[int]:
    """The child processes of `pid`, but multiprocessing's resource tracker (one per process
    that used it; it ends with that process)."""
    found = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            found.add(int(child))
    return found


def test_processes_prove_what_threads_prove(registry: RegistryClient) -> None:
    inventory = _inventory(registry)
    assert len(inventory) >= PROCESS_MIN_REPOSITORIES
    mode = parse_proof_mode("full")
    threads = prove(registry, inventory, mode, 7, workers=4, processes=1)
    shared = prove(registry, inventory, mode, 7, workers=4, processes=2)
    assert shared.coverage.as_dict() == threads.coverage.as_dict()
    assert shared.coverage.manifests_checked == sum(len(t) for t in inventory.values())
    assert shared.coverage.blobs_checked > 0
    assert [f.as_dict() for f in shared.failures] == [f.as_dict() for f in threads.failures]
    # The workers are kept for the session's next proof (post's after preflight's)...
    workers = _children(os.getpid())
    assert len(workers) == 2
    secret = registry.credentials.secret.encode()
    for pid in workers:  # the credentials went over the pool's pipe, not on a command line
        assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes()
    again = prove(registry, inventory, mode, 7, workers=4, processes=2)
    assert again.coverage.as_dict() == threads.coverage.as_dict()
    assert _children(os.getpid()) == workers
    # ...and ended with the session.
    close_pool()
    assert not _children(os.getpid()), "a worker process outlived the session"


def test_a_stop_ends_every_worker(registry: RegistryClient) -> None:
    from upgrade.cluster.dataproof import chosen_manifests

    _, chosen = chosen_manifests(_inventory(registry), parse_proof_mode("full"), 7)

    def stop(coverage: Coverage, failures: Sequence[Failure], count: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM turned into it) while parts come in

    with pytest.raises(KeyboardInterrupt):
        prove_processes(registry, chosen, 2, 2, stop)
    assert not _children(os.getpid()), "a worker process outlived the stop"


def test_workers_end_when_the_session_is_killed(big_lab: Lab, tmp_path: Path) -> None:
    # The proof in a process of its own, killed with SIGKILL while its workers run.
    script = textwrap.dedent(
        f"""
        import sys, time
        from upgrade.clients.registry import RegistryClient
        from upgrade.clients.secrets import DTRCredentials
        from upgrade.cluster.dataproof import chosen_manifests
        from upgrade.cluster.dataproof_processes import prove_processes
        from upgrade.config.proof_mode import parse_proof_mode

        creds = DTRCredentials.of(sys.argv[1], password=sys.stdin.readline().strip())
        client = RegistryClient({big_lab.url!r}, creds, verify={str(big_lab.ca_path)!r})
        repos = client.catalog()
        inventory = {{
            r: {{t: client.manifest_digest(r, t) for t in client.tags(r)}} for r in repos
        }}
        _, chosen = chosen_manifests(inventory, parse_proof_mode("full"), 7)
        print("proving", flush=True)
        def slow(*part):
            time.sleep(60)  # the session is killed while the workers are at work
        prove_processes(client, chosen * 50, 2, 2, slow)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, big_lab.credentials.username],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(big_lab.credentials.password + "\n")
    proc.stdin.close()
    assert proc.stdout.readline().strip() == "proving"
    deadline = time.monotonic() + 30
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    deadline = time.monotonic() + 5
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in workers if Path(f"/proc/{pid}").exists() and not _zombie(pid)}
        time.sleep(0.1)
    assert not alive, f"worker processes {alive} outlived their killed session"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def test_the_inventory_shared_by_processes_is_the_threads_inventory(
    big_lab: Lab, registry: RegistryClient
) -> None:
    from upgrade.clients.dtr import DTRClient
    from upgrade.cluster.inventory import snapshot

    creds = DTRCredentials.of(big_lab.credentials.username, password=big_lab.credentials.password)
    with DTRClient(big_lab.url, creds, verify=big_lab.ca_path) as dtr:
        threads = snapshot(dtr, registry, workers=4, processes=1)
        shared = snapshot(dtr, registry, workers=4, processes=2)
        assert shared == threads
        assert len(shared) == REPOSITORIES
        # A part's client error comes back as a HarnessError with its message, workers ended.
        with pytest.raises(HarnessError, match="not complete within"):
            snapshot(dtr, registry, workers=4, processes=2, timeout_s=1e-6)
    assert not _children(os.getpid()), "a worker process outlived the failed inventory"
