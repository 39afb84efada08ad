"""The session's worker processes, for the walks one interpreter's lock would cap.

The harness's clients spend most of a request's CPU in requests and urllib3, under one
interpreter lock, so one process of many threads stays below what a registry answers. The data
proof and the inventory share their work among worker processes of this pool, each running the
same thread pool over its part.

Each worker rebuilds the clients it needs from a `ClientRecipe` (the client's class, address,
credentials, TLS, timeouts, retries and the secrets to redact), sent over the pool's pipe, never
on a command line. Workers ignore SIGINT: the session's process handles a stop and ends them
(`close_pool(terminate=True)`), and a worker whose session process is gone (SIGKILL) ends
itself within `PARENT_POLL_S`. A part's `HarnessError` comes back as its message (client errors
do not all survive pickling). The pool is started on first use and kept for the session's next
walk (post's proof after preflight's); the harness ends it with `close_pool` at the session's
end.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from upgrade.clients.addresses import Verify
from upgrade.clients.http import ServiceClient, Timeout
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import Credentials, Redactor
from upgrade.errors import HarnessError

__all__ = [
    "DEFAULT_PROCESSES",
    "PARENT_POLL_S",
    "ClientRecipe",
    "close_pool",
    "run_parts",
    "worker_client",
]

PARENT_POLL_S: Final = 0.2
# A session's worker processes: one per core this process may run on, at most 4.
DEFAULT_PROCESSES: Final = max(1, min(4, len(os.sched_getaffinity(0))))
T = TypeVar("T")


@dataclass(frozen=True)
class ClientRecipe:
    """What a worker process needs to build one of the session's clients again."""

    cls: type[ServiceClient[Any]]
    base_url: str
    credentials: Credentials
    verify: Verify
    timeout: Timeout
    retry: RetryPolicy
    redactor: Redactor

    @classmethod
    def of(cls, client: ServiceClient[Any]) -> ClientRecipe:
        """The recipe of `client`."""
        http = client.http
        return cls(
            type(client), client.base_url, client.credentials, http.verify, http.timeout,
            http.retry, http.redactor,
        )  # fmt: skip

    @property
    def key(self) -> tuple[object, ...]:
        """What tells two recipes' clients apart (a redactor only redacts)."""
        return (self.cls, self.base_url, self.credentials, self.verify, self.timeout, self.retry)

    def build(self) -> ServiceClient[Any]:
        """A new client like the one the recipe was taken from."""
        return self.cls(
            self.base_url,
            self.credentials,
            verify=self.verify,
            timeout=self.timeout,
            retry=self.retry,
            redactor=self.redactor,
        )


_clients: dict[tuple[object, ...], ServiceClient[Any]] = {}  # a worker's clients, by recipe
_pool: Any = None
_pool_size = 0
_pool_lock = threading.Lock()


def worker_client(recipe: ClientRecipe) -> Any:
    """In a worker: the client `recipe` describes, built once per worker process."""
    client = _clients.get(recipe.key)
    if client is None:
        client = _clients[recipe.key] = recipe.build()
    return client


def _start_worker(parent: int) -> None:
    """In each worker: leave SIGINT to the session's process, and end when it is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # the session was killed: nobody will read what this worker does


def _guarded(func: Callable[..., T], args: tuple[Any, ...]) -> tuple[str, Any]:
    """In a worker: `func(*args)`, or the message of the `HarnessError` it raised."""
    try:
        return "ok", func(*args)
    except HarnessError as error:
        return "error", str(error)


def _session_pool(processes: int) -> Any:
    """The session's pool of `processes` workers, started on first use and then kept."""
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


def run_parts(
    processes: int,
    func: Callable[..., T],
    parts: Sequence[tuple[Any, ...]],
    on_result: Callable[[T], None],
) -> None:
    """`func(*part)` for every part on the session's `processes` workers, `on_result` told
    each result as it comes (in no set order). A part's `HarnessError` is raised here as a
    `HarnessError` with its message, once every worker is stopped, as is a stop
    (KeyboardInterrupt) or any other error."""
    pool = _session_pool(processes)
    try:
        pending = [pool.apply_async(_guarded, (func, part)) for part in parts]
        while pending:
            ready = [job for job in pending if job.ready()]
            if not ready:
                pending[0].wait(0.05)
                continue
            for job in ready:
                pending.remove(job)
                status, value = job.get()
                if status == "error":
                    raise HarnessError(value)
                on_result(value)
    except BaseException:
        close_pool(terminate=True)
        raise


def close_pool(*, terminate: bool = False) -> None:
    """End the session's workers (idempotent): let them finish, or with `terminate` stop
    them now (a stop, an error)."""
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
