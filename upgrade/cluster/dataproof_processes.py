"""The data proof shared by the session's worker processes (`upgrade.cluster.worker_pool`).

`prove_processes` cuts the chosen manifests into parts (never through a repository); each
worker proves its parts on the thread pool of `upgrade.cluster.dataproof_work` with the registry
client its recipe describes, and sends back the part's coverage and failures.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from upgrade.clients.registry import RegistryClient
from upgrade.cluster.dataproof import Coverage, Failure, ManifestRef
from upgrade.cluster.dataproof_work import Part, prove_threads
from upgrade.cluster.worker_pool import ClientRecipe, run_parts, worker_client

__all__ = ["prove_processes"]

# Parts per process: small enough for progress lines and a balanced end, few enough that
# sending them costs nothing.
PARTS_PER_PROCESS: Final = 8


def _prove_part(
    recipe: ClientRecipe, refs: list[ManifestRef], threads: int
) -> tuple[Coverage, list[Failure], int]:
    """In a worker: prove `refs` with the worker's client; the part's coverage and failures."""
    coverage = Coverage()
    failures: list[Failure] = []
    repositories = 0

    def add(part: Coverage, found: Sequence[Failure], count: int) -> None:
        nonlocal repositories
        coverage.add(part)
        failures.extend(found)
        repositories += count

    prove_threads(worker_client(recipe), refs, threads, add)
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
    each part as it finishes; a stop or an error ends every worker before it is raised."""
    recipe = ClientRecipe.of(registry)
    parts = [(recipe, part, threads) for part in _parts(chosen, processes * PARTS_PER_PROCESS)]
    run_parts(processes, _prove_part, parts, lambda result: on_part(*result))
