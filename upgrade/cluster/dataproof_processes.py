"""The data proof shared by worker processes: one interpreter's lock caps a thread pool.

The harness's client spends most of a registry request's CPU in requests and urllib3, under
one interpreter lock, so one process of many threads stays below what the registry answers.
`prove_processes` shares the chosen repositories among `processes` worker processes, each
proving its share on the thread pool of `upgrade.cluster.dataproof_work`.

Each worker rebuilds the registry client from a `ClientRecipe` (the address, the credentials,
TLS, timeouts, retries and the secrets to redact), sent over the pool's pipe, never on a
command line. Workers ignore SIGINT: the session's process handles a stop and ends them
(`Pool.terminate`), and a worker whose session process is gone (SIGKILL) ends itself within
`PARENT_POLL_S`. Nothing a worker returns holds a secret its redactor knows. The pool is
started on first use and kept for the session's next proof (`close_pool` ends it).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from upgrade.clients.addresses import Verify
from upgrade.clients.http import Timeout
from upgrade.clients.registry import RegistryClient
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor
from upgrade.cluster.dataproof import Coverage, Failure, ManifestRef
from upgrade.cluster.dataproof_work import Part, prove_threads

__all__ = ["PARENT_POLL_S", "ClientRecipe", "close_pool", "prove_processes"]

PARENT_POLL_S: Final = 0.2
# Parts per process: small enough for progress lines and a balanced end, few enough that
# sending them costs nothing.
PARTS_PER_PROCESS: Final = 8


@dataclass(frozen=True)
class ClientRecipe:
    """What a worker process needs to build the session's registry client again."""

    base_url: str
    credentials: DTRCredentials
    verify: Verify
    timeout: Timeout
    retry: RetryPolicy
    redactor: Redactor

    @classmethod
    def of(cls, client: RegistryClient) -> ClientRecipe:
        """The recipe of `client`."""
        http = client.http
        return cls(
            client.base_url, client.credentials, http.verify, http.timeout, http.retry,
            http.redactor,
        )  # fmt: skip

    @property
    def key(self) -> tuple[object, ...]:
        """What tells two recipes' clients apart (a redactor only redacts)."""
        return (self.base_url, self.credentials, self.verify, self.timeout, self.retry)

    def build(self) -> RegistryClient:
        """A new client like the one the recipe was taken from."""
        return RegistryClient(
            self.base_url,
            self.credentials,
            verify=self.verify,
            timeout=self.timeout,
            retry=self.retry,
            redactor=self.redactor,
        )


_client: tuple[tuple[object, ...], RegistryClient] | None = None  # one per worker process
_pool: Any = None  # the session's pool, kept from preflight's proof to post's
_pool_size = 0
_pool_lock = threading.Lock()


def _start_worker(parent: int) -> None:
    """In each worker: leave SIGINT to the session's process, and end when it is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # the session was killed: nobody will read what this worker proves


def _prove_part(
    recipe: ClientRecipe, refs: list[ManifestRef], threads: int
) -> tuple[Coverage, list[Failure], int]:
    """In a worker: prove `refs` with the worker's client; the part's coverage and failures."""
    global _client
    if _client is None or _client[0] != recipe.key:
        _client = (recipe.key, recipe.build())
    client = _client[1]
    coverage = Coverage()
    failures: list[Failure] = []
    repositories = 0

    def add(part: Coverage, found: Sequence[Failure], count: int) -> None:
        nonlocal repositories
        coverage.add(part)
        failures.extend(found)
        repositories += count

    prove_threads(client, refs, threads, add)
    return coverage, failures, repositories


def _parts(chosen: Sequence[ManifestRef], count: int) -> Iterator[list[ManifestRef]]:
    """`chosen` cut into about `count` parts, never through a repository."""
    size = max(1, -(-len(chosen) // count))
    part: list[ManifestRef] = []
    for ref in chosen:
        if len(part) >= size and ref.repository != part[-1].repository:
            yield part
            part = []
        part.append(ref)
    if part:
        yield part


def prove_processes(
    registry: RegistryClient,
    chosen: Sequence[ManifestRef],
    processes: int,
    threads: int,
    on_part: Part,
) -> None:
    """Prove `chosen` on `processes` worker processes of `threads` threads, telling `on_part`
    each part as it finishes. A stop (KeyboardInterrupt) or an error ends every worker before
    it is raised again."""
    recipe = ClientRecipe.of(registry)
    pool = _session_pool(processes)
    try:
        jobs = [
            pool.apply_async(_prove_part, (recipe, part, threads))
            for part in _parts(chosen, processes * PARTS_PER_PROCESS)
        ]
        pending = list(jobs)
        while pending:
            ready = [job for job in pending if job.ready()]
            if not ready:
                pending[0].wait(0.05)
                continue
            for job in ready:
                pending.remove(job)
                coverage, failures, repositories = job.get()
                on_part(coverage, failures, repositories)
    except BaseException:
        close_pool(terminate=True)
        raise


def _session_pool(processes: int) -> Any:
    """The session's worker pool of `processes` processes, started on first use and kept for
    the next proof (post's, after preflight's): starting workers costs about a second."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is not None and _pool_size != processes:
            _pool.terminate()
            _pool.join()
            _pool = None
        if _pool is None:
            context = multiprocessing.get_context("spawn")  # no fork of a threaded process
            _pool = context.Pool(processes, initializer=_start_worker, initargs=(os.getpid(),))
            _pool_size = processes
        return _pool


def close_pool(*, terminate: bool = False) -> None:
    """End the session's workers (idempotent): let them finish, or with `terminate` stop
    them now (a stop, an error). The harness calls it when the session ends."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    if terminate:
        pool.terminate()
    else:
        pool.close()
    pool.join()


atexit.register(close_pool, terminate=True)
