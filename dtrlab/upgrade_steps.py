"""The upgrade as the simulated bootstrapper drives it through UCP's /_lab/ endpoints: a
run's attempts (and whether a scenario crashes it), the replica swaps, the cluster-wide
reconfiguration outage and the hop's migration jobs, remembered across bootstrapper runs.

The swaps run in the lab's own threads, so a bootstrapper killed mid-swap still leaves the
replica back up on the new version, as the real one leaves a replaced replica's containers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dtrlab.catalogue import HOP_MIGRATIONS, parse_version
from dtrlab.cluster import Cluster, Replica
from dtrlab.errors import LabError

SWAP_WAIT_MARGIN_S = 30.0


@dataclass
class UpgradeProgress:
    """What the lab remembers about upgrades to one target version, across bootstrapper runs."""

    target: str
    from_version: str
    attempts: int = 0
    outage_done: bool = False
    completed: bool = False
    migration_jobs: list[str] = field(default_factory=list)
    lost_tags: list[str] = field(default_factory=list)


class UpgradeSteps:
    """The upgrade operations on one lab cluster, and what they remember per target version."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.progress: dict[str, UpgradeProgress] = {}
        self._swaps: dict[str, threading.Event] = {}
        self._swap_threads: list[threading.Thread] = []

    def begin_attempt(self, target: str) -> dict[str, Any]:
        """Record a bootstrapper run towards `target` and tell it whether this attempt crashes."""
        cluster = self.cluster
        with cluster.lock:
            progress = self.progress.get(target)
            if progress is None:
                pending = [r.version for r in cluster.replicas.values() if r.version != target]
                from_version = min(pending or [target], key=parse_version)
                progress = self.progress[target] = UpgradeProgress(target, from_version)
            progress.attempts += 1
            crash: dict[str, Any] | None = None
            ids = list(cluster.replicas)
            crash_replica = ids[min(2, len(ids)) - 1]
            message = (
                f"Failed to rejoin replica {crash_replica} to the RethinkDB cluster: "
                "dtr-phase2 container exited: connection reset by peer"
            )
            if progress.attempts == 1 and cluster.config.has("jobs-cut-by-upgrade"):
                cut_by_upgrade(cluster)
            if cluster.config.has("upgrade-crash-always") or (
                cluster.config.has("upgrade-crash") and progress.attempts == 1
            ):
                pending_ids = [r for r in ids if cluster.replicas[r].version != target]
                crash = {
                    "after_replica": crash_replica if crash_replica in pending_ids else None,
                    "message": message,
                }
            return {
                "attempt": progress.attempts,
                "target": target,
                "from_version": progress.from_version,
                "crash": crash,
                "replicas": [{"id": r.id, "version": r.version} for r in cluster.replicas.values()],
            }

    def replace_replica(self, replica_id: str, version: str) -> dict[str, Any]:
        """Take a replica down for swap_time and bring it back on `version`; blocks until done.

        The swap runs in the lab's own thread, so a bootstrapper killed mid-swap still leaves the
        replica back up (on the new version) and a re-run skips it.
        """
        cluster = self.cluster
        with cluster.lock:
            replica = cluster.replicas.get(replica_id)
            if replica is None:
                raise LabError(f"no replica {replica_id}")
            if replica.state == "swapping":
                done = self._swaps[replica_id]
            else:
                done = threading.Event()
                self._swaps[replica_id] = done
                replica.state = "swapping"
                thread = threading.Thread(
                    target=self._swap,
                    args=(replica, version, done),
                    name=f"swap-{replica_id}",
                    daemon=True,
                )
                self._swap_threads.append(thread)
                thread.start()
        done.wait(cluster.config.swap_time + SWAP_WAIT_MARGIN_S)
        with cluster.lock:
            return {"id": replica.id, "version": replica.version, "state": replica.state}

    def _swap(self, replica: Replica, version: str, done: threading.Event) -> None:
        cluster = self.cluster
        try:
            if replica.listener is not None:
                replica.listener.stop()
            if cluster.config.has("jobs-cut-by-upgrade"):
                cluster.jobs.worker_stopped(replica.id)
            cluster.notify_changed()
            progress = self.progress.get(version)
            if progress is not None and cluster.config.has("data-loss") and not progress.lost_tags:
                self._lose_a_tag(progress)
            cluster.closing.wait(cluster.config.swap_time)
            with cluster.lock:
                replica.version = version
                replica.unhealthy_error = None
                replica.started_at = datetime.now(UTC)
                last = all(r.version == version for r in cluster.replicas.values())
                if last and cluster.config.has("slow-replica"):
                    replica.warming_until = cluster.clock() + cluster.config.slow_replica_time
                replica.state = "running"
            for hook in cluster.before_serving:
                hook()
            cluster.restart_listener(replica)
        finally:
            done.set()
            cluster.notify_changed()

    def join_swaps(self) -> None:
        """Wait (bounded) for swap threads; call after `closing` is set, so they end at once."""
        cluster = self.cluster
        with cluster.lock:
            threads, self._swap_threads = self._swap_threads, []
        for thread in threads:
            thread.join(SWAP_WAIT_MARGIN_S)

    def _lose_a_tag(self, progress: UpgradeProgress) -> None:
        cluster = self.cluster
        for name in cluster.store.repository_names():
            tags = cluster.store.tags(name)
            if len(tags) > 1:
                cluster.store.delete_tag(name, tags[-1].name)
                progress.lost_tags.append(f"{name}:{tags[-1].name}")
                return

    def reconfigure(self, target: str) -> dict[str, Any]:
        """The cluster-wide reconfiguration step: an interruption of `outage` seconds, once per
        upgrade (every replica refuses connections and the load balancer has nobody to serve)."""
        cluster = self.cluster
        seconds = cluster.config.effective_outage
        with cluster.lock:
            progress = self.progress.get(target)
            if progress is None or progress.outage_done or seconds <= 0:
                return {"outage_s": 0.0}
            progress.outage_done = True
            replicas = list(cluster.replicas.values())
            for r in replicas:
                r.state = "outage"
        for r in replicas:
            if r.listener is not None:
                r.listener.stop()
        cluster.notify_changed()
        cluster.closing.wait(seconds)
        with cluster.lock:
            for r in replicas:
                r.state = "running"
        for r in replicas:
            cluster.restart_listener(r)
        cluster.notify_changed()
        return {"outage_s": seconds}

    def complete(self, target: str) -> dict[str, Any]:
        """Every replica is on `target`: queue the hop's migration jobs (once)."""
        cluster = self.cluster
        with cluster.lock:
            progress = self.progress.get(target)
            if any(r.version != target for r in cluster.replicas.values()):
                raise LabError(f"not every replica runs {target}: {cluster.replica_versions()}")
            if progress is None or progress.completed:
                return {"jobs": list(progress.migration_jobs) if progress else []}
            progress.completed = True
            source, dest = parse_version(progress.from_version), parse_version(target)
            if source.line != dest.line:
                # A store migrated on 2.5 (online GC enabled: metadata-store-opted-in) gets no
                # metadatastoremigration: the case the harness must not wait for.
                opted_in = cluster.metadata_store_opted_in
                for action in HOP_MIGRATIONS.get(dest.line, ()):
                    if action == "metadatastoremigration" and opted_in:
                        continue
                    job = cluster.jobs.submit(action, retries=2, origin="upgrade")
                    progress.migration_jobs.append(job.id)
                if dest.line >= (2, 6) and source.line < (2, 6) and not opted_in:
                    cluster.metadata_store_opted_in = False
                    cluster.online_gc_enabled = False
            return {"jobs": list(progress.migration_jobs)}

    def lost_tags(self) -> list[str]:
        """`repository:tag` names the data-loss scenario removed."""
        cluster = self.cluster
        with cluster.lock:
            return [t for p in self.progress.values() for t in p.lost_tags]


# The jobs the jobs-cut-by-upgrade scenario has running when the upgrade starts, one per way a
# replaced jobrunner ends a job (dtrlab.jobs.JobRunner.worker_stopped): (action, retries,
# what losing the worker does, parameters).
CUT_JOBS = (
    ("scan_check_single", 0, "shutdown", {"SHA256SUM": "5d0da3dc9764ed3e2e3fd31d5bf7a2d8"}),
    ("webhook", 0, "shutdown", {"webhookID": "9b1d"}),
    ("poll_mirror", 2, "shutdown", {"repository": "admin/mirror"}),
    ("tag_pruning", 0, "dead", {"repository": "admin/app"}),
)


def cut_by_upgrade(cluster: Cluster) -> None:
    """Start the jobs a rolling upgrade cuts: each runs until its replica's jobrunner is
    replaced (one-off jobs then end worker_shutdown, poll_mirror is retried by retryFromID,
    tag_pruning goes worker_dead and another replica claims it)."""
    for action, retries, loss, parameters in CUT_JOBS:
        job = cluster.jobs.submit(
            action,
            dict(parameters),
            retries=retries,
            origin="cron",
            duration=float("inf"),
            on_worker_loss=loss,
        )
        cluster.jobs.claim_now(job.id)
