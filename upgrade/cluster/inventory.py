"""The inventory of a DTR: every repository, its tags and the manifest digest of each tag.

Preflight records it as the baseline; the post-upgrade check takes it again and compares. At
10,000 repositories x 5 tags, it must be taken concurrently: the repository list is paged
serially (it is one cursor), then the tag lists are fetched by a bounded thread pool, one
request per repository.

Which digest is authoritative: the DTR tag list (`GET /api/v0/repositories/{ns}/{repo}/tags`,
`responses.ListTag.digest`). It is DTR's metadata store, the record from which the registry
resolves tags, and it costs one request per repository rather than one `HEAD` per tag. Only a
tag listed without a digest is resolved through the registry (`HEAD /v2/<repo>/manifests/<tag>`)
when a registry client is given; otherwise such a tag is an error rather than a silent gap.

The snapshot is consistent in the sense that matters for the comparison: every repository
listed is either captured whole (all its tags, each with a digest) or, when it disappeared
between the listing and its tag list (404), left out, exactly as if it had been deleted first.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from upgrade.clients.dtr import DTRClient
from upgrade.clients.dtr_records import Repository
from upgrade.clients.errors import APIError
from upgrade.clients.registry import RegistryClient
from upgrade.errors import HarnessError

__all__ = ["Inventory", "InventoryDiff", "SnapshotTimedOut", "compare", "snapshot"]

log = logging.getLogger(__name__)

Inventory = dict[str, dict[str, str]]
"""`{"namespace/repo": {"tag": "sha256:..."}}`."""

DEFAULT_WORKERS = 16
DEFAULT_TIMEOUT_S = 900.0
# Below this many repositories starting worker processes costs more than it saves.
PROCESS_MIN_REPOSITORIES = 64
PARTS_PER_PROCESS = 8


class SnapshotTimedOut(HarnessError):
    """The inventory was not complete within its time budget."""

    def __init__(self, done: int, total: int, timeout_s: float) -> None:
        super().__init__(
            f"the repository inventory was not complete within {timeout_s:g} s ({done} of "
            f"{total} repositories read); raise the timeout or the number of workers, or check "
            "the DTR API's response times"
        )


def snapshot(
    dtr: DTRClient,
    registry: RegistryClient | None = None,
    *,
    workers: int = DEFAULT_WORKERS,
    processes: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> Inventory:
    """Every repository's tags and digests, the tag lists fetched by `workers` threads (shared
    by `processes` worker processes for a large DTR, as the data proof is).

    Raises the first client error met (the remaining work is cancelled), or
    `SnapshotTimedOut` when the whole inventory takes longer than `timeout_s`.
    """
    if workers < 1:
        raise HarnessError(f"the inventory needs at least one worker, not {workers}")
    started = clock()
    repositories = dtr.repositories()
    if processes > 1 and len(repositories) >= PROCESS_MIN_REPOSITORIES:
        return _shared(dtr, registry, repositories, processes, workers, timeout_s)
    return _walk(dtr, registry, repositories, workers, started + timeout_s, timeout_s, clock)


def _shared(
    dtr: DTRClient,
    registry: RegistryClient | None,
    repositories: Sequence[Repository],
    processes: int,
    workers: int,
    timeout_s: float,
) -> Inventory:
    """The tag lists read by the session's worker processes (upgrade.cluster.worker_pool),
    `workers / processes` threads each, within one deadline (of the wall clock, which every
    process shares)."""
    from upgrade.cluster.worker_pool import ClientRecipe, run_parts

    dtr_recipe = ClientRecipe.of(dtr)
    registry_recipe = ClientRecipe.of(registry) if registry is not None else None
    count = processes * PARTS_PER_PROCESS
    size = max(1, -(-len(repositories) // count))
    deadline = time.time() + timeout_s
    threads = max(1, workers // processes)
    parts = [
        (dtr_recipe, registry_recipe, list(repositories[i : i + size]), threads, deadline,
         timeout_s)
        for i in range(0, len(repositories), size)
    ]  # fmt: skip
    inventory: Inventory = {}
    run_parts(processes, _walk_part, parts, inventory.update)
    return dict(sorted(inventory.items()))


def _walk_part(
    dtr_recipe: Any,
    registry_recipe: Any,
    repositories: list[Repository],
    threads: int,
    deadline: float,
    timeout_s: float,
) -> Inventory:
    """In a worker: the tag lists of `repositories`, with the worker's clients."""
    from upgrade.cluster.worker_pool import worker_client

    dtr = worker_client(dtr_recipe)
    registry = worker_client(registry_recipe) if registry_recipe is not None else None
    mono_deadline = time.monotonic() + max(0.0, deadline - time.time())
    return _walk(dtr, registry, repositories, threads, mono_deadline, timeout_s, time.monotonic)


def _walk(
    dtr: DTRClient,
    registry: RegistryClient | None,
    repositories: Sequence[Repository],
    workers: int,
    deadline: float,
    timeout_s: float,
    clock: Callable[[], float],
) -> Inventory:
    """The tag lists of `repositories` on `workers` threads, by `deadline` (on `clock`)."""
    inventory: Inventory = {}
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="inventory"
    )
    finished = False
    try:
        futures = {pool.submit(_tags_of, dtr, registry, repo): repo for repo in repositories}
        remaining = max(0.0, deadline - clock())
        done, pending = concurrent.futures.wait(
            futures, timeout=remaining, return_when=concurrent.futures.FIRST_EXCEPTION
        )
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
        if pending:
            raise SnapshotTimedOut(len(done), len(futures), timeout_s)
        for future, repo in futures.items():
            tags = future.result()
            if tags is not None:
                inventory[repo.full_name] = tags
        finished = True
    finally:
        # On failure, return at once: requests still in flight end within their read timeout.
        pool.shutdown(wait=finished, cancel_futures=True)
    return dict(sorted(inventory.items()))


def _tags_of(
    dtr: DTRClient, registry: RegistryClient | None, repo: Repository
) -> dict[str, str] | None:
    try:
        tags = dtr.tags(repo.namespace, repo.name)
    except APIError as error:
        if error.status == 404:
            log.info("repository %s disappeared while the inventory was taken", repo.full_name)
            return None
        raise
    digests = {}
    for tag in tags:
        digest = tag.digest
        if not digest:
            if registry is None:
                raise HarnessError(
                    f"DTR listed tag {repo.full_name}:{tag.name} without a digest; give the "
                    "inventory a registry client to resolve it"
                )
            digest = registry.manifest_digest(repo.full_name, tag.name)
        digests[tag.name] = digest
    return dict(sorted(digests.items()))


@dataclass(frozen=True)
class InventoryDiff:
    """What changed between two inventories; tags are named `namespace/repo:tag`."""

    missing_repositories: tuple[str, ...]
    added_repositories: tuple[str, ...]
    missing_tags: tuple[str, ...]
    added_tags: tuple[str, ...]
    changed_tags: tuple[tuple[str, str, str], ...]
    """(tag, digest before, digest after)."""

    @property
    def intact(self) -> bool:
        """Nothing of the baseline is missing or points at another digest."""
        return not (self.missing_repositories or self.missing_tags or self.changed_tags)

    @property
    def identical(self) -> bool:
        """Nothing changed at all, additions included."""
        return self.intact and not (self.added_repositories or self.added_tags)


def compare(
    baseline: Mapping[str, Mapping[str, str]], current: Mapping[str, Mapping[str, str]]
) -> InventoryDiff:
    """The differences of `current` against `baseline`.

    A missing repository's tags are not listed again as missing tags.
    """
    missing_tags: list[str] = []
    added_tags: list[str] = []
    changed: list[tuple[str, str, str]] = []
    for repo in sorted(baseline.keys() & current.keys()):
        before, after = baseline[repo], current[repo]
        missing_tags += [f"{repo}:{tag}" for tag in sorted(before.keys() - after.keys())]
        added_tags += [f"{repo}:{tag}" for tag in sorted(after.keys() - before.keys())]
        changed += [
            (f"{repo}:{tag}", before[tag], after[tag])
            for tag in sorted(before.keys() & after.keys())
            if before[tag] != after[tag]
        ]
    return InventoryDiff(
        missing_repositories=tuple(sorted(baseline.keys() - current.keys())),
        added_repositories=tuple(sorted(current.keys() - baseline.keys())),
        missing_tags=tuple(missing_tags),
        added_tags=tuple(added_tags),
        changed_tags=tuple(changed),
    )
