"""The `manifest-v1-image` scenario: a repository whose one tag is a manifest schema 1 image.

Engines before 1.10 pushed signed schema 1 manifests
(`application/vnd.docker.distribution.manifest.v1+prettyjws`); a DTR that has run for years
can still hold them, which DTR 2.6's upgrade checks for unless given `--no-image-check`
(reference/dtr/2.6/cli/upgrade.md). The lab's registry no longer accepts such pushes, so the
tag is placed in the store as an old registry would have kept it.
"""

from __future__ import annotations

import json

from dtrlab.config import LabConfig
from dtrlab.store import MANIFEST_V1_SIGNED, RegistryStore, TagRecord, digest_of

REPOSITORY = ("legacy", "centos")
TAG = "6"


def install(store: RegistryStore, config: LabConfig) -> str | None:
    """With `manifest-v1-image`, add `legacy/centos:6` as a schema 1 image; its digest."""
    if not config.has("manifest-v1-image"):
        return None
    namespace, name = REPOSITORY
    repo = store.create_repository(namespace, name, "organization")
    manifest = {
        "schemaVersion": 1,
        "name": repo.full_name,
        "tag": TAG,
        "architecture": "amd64",
        "fsLayers": [],
        "history": [],
        "signatures": [],
    }
    body = json.dumps(manifest, indent=3).encode()
    digest = digest_of(body)
    repo.manifests[digest] = (MANIFEST_V1_SIGNED, body)
    repo.tags[TAG] = TagRecord(TAG, digest, repo.created_at, repo.created_at, store.author)
    repo.pushes = 1
    return digest
