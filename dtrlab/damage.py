"""Data-plane faults: DTR's metadata still lists every tag, but a `docker pull` would fail.

What they mimic: image blobs live in the registry's storage, apart from DTR's metadata and
apart from its backup (dtr-facts.md: "Not included: image blobs"); since 2.6 the storage is a
mandatory flag of the replicas (`--dtr-use-default-storage`, `--dtr-storage-volume`,
`--nfs-storage-url`), and the metadatastoremigration after the 2.5 -> 2.6 upgrade migrates blob
links (dtr-facts.md, the upgrade section). A replica back on other storage, or a lost link,
answers BLOB_UNKNOWN to a pull while the API lists every tag. The scenarios:

- `blobs-lost`: when the first replica is swapped during an upgrade, every blob of one
  repository (`engineering/api` in the demo lab) is gone from its storage;
- `manifest-corrupt`: at the same moment the stored bytes of one manifest (`admin/nginx:1.15`)
  change, so they no longer hash to the digest DTR lists and serves;
- `blobs-lost-before`: the blobs of `qa/tools` are gone from the start, before any change.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dtrlab.cluster import Cluster
    from dtrlab.store import RegistryStore

__all__ = ["install_damage"]

log = logging.getLogger(__name__)

LOST_AFTER = "engineering/api"
CORRUPTED = ("admin/nginx", "1.15")
LOST_BEFORE = "qa/tools"


def _victim(store: RegistryStore, preferred: str, index: int) -> str:
    """`preferred` when the lab holds it (the demo repositories), else the `index`-th name."""
    if store.repository(preferred) is not None:
        return preferred
    names = store.repository_names()
    return names[index % len(names)]


def _corrupt(store: RegistryStore) -> None:
    name, tag = CORRUPTED
    if store.repository(name) is None:
        name = _victim(store, name, 1)
        tag = store.tags(name)[0].name
    digest = store.corrupt_manifest(name, tag)
    log.info("manifest-corrupt: %s:%s (%s) no longer hashes to its digest", name, tag, digest)


def install_damage(cluster: Cluster) -> None:
    """Apply the lab's data-plane scenarios: the "before" one now, the others at the first
    replica swap of an upgrade (a `before_serving` hook)."""
    config, store = cluster.config, cluster.store
    if config.has("blobs-lost-before") and store.repository_count():
        store.lose_blobs(_victim(store, LOST_BEFORE, 2))
    during = [s for s in ("blobs-lost", "manifest-corrupt") if config.has(s)]
    if not during or not store.repository_count():
        return
    once = threading.Lock()
    done: list[bool] = []

    def damage() -> None:
        with once:
            if done:
                return
            done.append(True)
        if "blobs-lost" in during:
            lost = store.lose_blobs(_victim(store, LOST_AFTER, 0))
            log.info("blobs-lost: %d blob(s) gone from storage", len(lost))
        if "manifest-corrupt" in during:
            _corrupt(store)

    cluster.before_serving.append(damage)
