"""The data-plane proof run: choose the manifests, prove them on threads or worker processes.

`prove` picks the manifests a mode and seed choose (`upgrade.cluster.dataproof`), has them
proved by a thread pool in this process (`upgrade.cluster.dataproof_work`) or, for a large
proof, by worker processes (`upgrade.cluster.dataproof_processes`), adds up the parts and
tells `progress` how far it is. Nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from upgrade.clients.registry import RegistryClient
from upgrade.cluster.dataproof import Coverage, Failure, ProofResult, chosen_manifests
from upgrade.cluster.dataproof_work import prove_threads
from upgrade.cluster.worker_pool import DEFAULT_PROCESSES
from upgrade.config.proof_mode import ProofMode
from upgrade.errors import HarnessError

__all__ = ["DEFAULT_PROCESSES", "DEFAULT_WORKERS", "PROCESS_MIN_REPOSITORIES", "prove"]

DEFAULT_WORKERS = 16
PROGRESS_EVERY_S = 5.0
# Below this many repositories starting worker processes costs more than it saves.
PROCESS_MIN_REPOSITORIES = 64

Progress = Callable[[str], None]


def prove(
    registry: RegistryClient,
    inventory: Mapping[str, Mapping[str, str]],
    mode: ProofMode,
    seed: int,
    *,
    workers: int = DEFAULT_WORKERS,
    processes: int = 1,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProofResult:
    """Prove the manifests `mode` and `seed` choose from `inventory`; every failure is recorded
    (none raises), and `progress` is told how far it is every few seconds of a long proof.
    With `processes` above 1 and enough repositories, the work is shared by that many worker
    processes of `workers / processes` threads each (upgrade.cluster.dataproof_processes)."""
    if workers < 1:
        raise HarnessError(f"the data proof needs at least one worker, not {workers}")
    started = clock()
    manifest_count, chosen = chosen_manifests(inventory, mode, seed)
    total = Coverage(
        manifests_total=manifest_count, tags_total=sum(len(tags) for tags in inventory.values())
    )
    result = ProofResult(str(mode), seed, total, workers=workers)
    repositories = len({ref.repository for ref in chosen})
    done = 0
    next_report = started + PROGRESS_EVERY_S

    def on_part(coverage: Coverage, failures: Sequence[Failure], count: int) -> None:
        nonlocal done, next_report
        total.add(coverage)
        result.failures.extend(failures)
        done += count
        if progress is not None and clock() >= next_report:
            next_report = clock() + PROGRESS_EVERY_S
            progress(
                f"data proof: {done:,} of {repositories:,} repositories, "
                f"{total.manifests_checked:,} manifests and {total.blobs_checked:,} blobs "
                f"checked, {len(result.failures):,} failure(s), {clock() - started:.0f} s"
            )

    if processes > 1 and repositories >= PROCESS_MIN_REPOSITORIES:
        from upgrade.cluster.dataproof_processes import prove_processes

        prove_processes(registry, chosen, processes, max(1, workers // processes), on_part)
    else:
        prove_threads(registry, chosen, workers, on_part)
    result.failures.sort(key=lambda f: (f.repository, f.kind, f.digest))
    result.seconds = clock() - started
    return result
