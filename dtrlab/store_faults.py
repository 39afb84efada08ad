"""Data-plane faults of the lab registry (`dtrlab.damage` applies them): blobs whose links are
gone from a repository's storage, and manifest bytes that no longer hash to their digest."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from dtrlab.content import MANIFEST_LIST_V2, OCI_INDEX, Repository, TagRecord


class FaultsMixin:
    """What `RegistryStore` lets the lab's data-plane scenarios break."""

    _lock: threading.RLock
    _unlinked: set[tuple[str, str]]

    # Provided by RegistryStore, which mixes this in.
    _require: Callable[[str], Repository]
    _materialise: Callable[[Repository, TagRecord], str]

    def lose_blobs(self, full_name: str) -> list[str]:
        """Fault: every blob of the repository's manifests is gone from its storage while its
        tags and manifests stay listed; returns the blob digests lost."""
        with self._lock:
            repo = self._require(full_name)
            for record in repo.tags.values():
                self._materialise(repo, record)
            lost: list[str] = []
            for media_type, body in repo.manifests.values():
                if media_type in (MANIFEST_LIST_V2, OCI_INDEX):
                    continue
                manifest = json.loads(body)
                for ref in [manifest.get("config", {}), *manifest.get("layers", [])]:
                    digest = str(ref.get("digest", ""))
                    if digest and digest not in lost:
                        lost.append(digest)
                        self._unlinked.add((full_name, digest))
            return lost

    def corrupt_manifest(self, full_name: str, tag: str) -> str:
        """Fault: the stored bytes of the manifest `tag` names change (one byte more), so they
        no longer hash to the digest DTR lists and serves; returns that digest."""
        with self._lock:
            repo = self._require(full_name)
            digest = self._materialise(repo, repo.tags[tag])
            media_type, body = repo.manifests[digest]
            repo.manifests[digest] = (media_type, body + b"\n")
            return digest
