"""Registry content: repositories, tags, schema2 manifests and content-addressed blobs.

Blobs are shared between repositories (content addressing makes that free). Generated
repositories compute each tag's config blob and manifest on first use, so a lab with 10,000
repositories x 5 tags starts in well under a second and every digest is still a real sha256 of
the bytes served.
"""

from __future__ import annotations

import bisect
import gzip
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrlab.content import (
    CONFIG_V1,
    LAYER_TAR_GZIP,
    MANIFEST_LIST_V2,
    MANIFEST_TYPES,
    MANIFEST_V1_SIGNED,
    MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
    RegistryError,
    Repository,
    TagRecord,
    Upload,
    digest_of,
    iso,
    layer_tar,
)
from dtrlab.store_faults import FaultsMixin
from dtrlab.store_uploads import UploadsMixin

__all__ = [
    "CONFIG_V1",
    "LAYER_TAR_GZIP",
    "MANIFEST_LIST_V2",
    "MANIFEST_TYPES",
    "MANIFEST_V1_SIGNED",
    "MANIFEST_V2",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RegistryError",
    "RegistryStore",
    "Repository",
    "TagRecord",
    "digest_of",
    "iso",
]


class RegistryStore(UploadsMixin, FaultsMixin):
    """All repositories, tags, manifests and blobs of the lab; thread-safe."""

    def __init__(self, now: datetime, author: str) -> None:
        self._lock = threading.RLock()
        self._now = now
        self.author = author
        self._blobs: dict[str, bytes] = {}
        self._repos: dict[str, Repository] = {}
        self._by_id: dict[str, Repository] = {}
        self._order: list[str] = []
        self._uploads: dict[str, Upload] = {}
        self._unlinked: set[tuple[str, str]] = set()
        layers = [
            layer_tar("etc/os-release", b'NAME="DTR lab base"\nVERSION_ID=1\n'),
            layer_tar("usr/share/lab/README", b"DTR lab application layer\n" * 8),
        ]
        self._base_layers = [self.put_blob(layer) for layer in layers]
        self._diff_ids = {digest_of(layer): digest_of(gzip.decompress(layer)) for layer in layers}

    # -- blobs -------------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        """Store `data` under its digest and return the digest."""
        digest = digest_of(data)
        with self._lock:
            self._blobs.setdefault(digest, bytes(data))
        return digest

    def blob(self, digest: str) -> bytes | None:
        """The blob with `digest`, or None."""
        with self._lock:
            return self._blobs.get(digest)

    def linked_blob(self, full_name: str, digest: str) -> bytes | None:
        """The blob `digest` as repository `full_name` serves it: None when it is not stored or
        its link in that repository is gone (distribution links each blob per repository)."""
        with self._lock:
            if (full_name, digest) in self._unlinked:
                return None
            return self._blobs.get(digest)

    def _relink(self, full_name: str, digest: str) -> None:
        with self._lock:
            self._unlinked.discard((full_name, digest))

    # -- repositories ------------------------------------------------------------------------

    def _add_repository(self, repo: Repository) -> Repository:
        self._repos[repo.full_name] = repo
        self._by_id[repo.id] = repo
        bisect.insort(self._order, repo.full_name)
        return repo

    def create_repository(
        self, namespace: str, name: str, namespace_type: str = "user"
    ) -> Repository:
        """Create (or return the existing) repository namespace/name."""
        with self._lock:
            existing = self._repos.get(f"{namespace}/{name}")
            if existing is not None:
                return existing
            return self._add_repository(Repository(namespace, name, namespace_type, self._now))

    def repository(self, full_name: str) -> Repository | None:
        """The repository `namespace/name`, or None."""
        with self._lock:
            return self._repos.get(full_name)

    def repository_count(self) -> int:
        """How many repositories the lab holds."""
        with self._lock:
            return len(self._order)

    def repository_names(self) -> list[str]:
        """Every repository name, sorted."""
        with self._lock:
            return list(self._order)

    def page_repositories(
        self, page_start: str | None, page_size: int
    ) -> tuple[list[Repository], str | None]:
        """A page of repositories (sorted by name) starting at the repository whose ID is
        `page_start`, and the ID that starts the next page (None on the last page)."""
        with self._lock:
            index = 0
            if page_start:
                start = self._by_id.get(page_start)
                if start is None:
                    raise RegistryError(
                        400,
                        "INVALID_PARAMETERS",
                        f"pageStart {page_start!r} is not a repository ID",
                    )
                index = bisect.bisect_left(self._order, start.full_name)
            names = self._order[index : index + page_size]
            following = (
                self._order[index + page_size] if index + page_size < len(self._order) else None
            )
            repos = [self._repos[n] for n in names]
            return repos, (self._repos[following].id if following else None)

    # -- content generation ------------------------------------------------------------------

    def _image(self, labels: dict[str, str], layers: list[str]) -> tuple[str, bytes]:
        """Store a config blob and return (digest, bytes) of a schema2 manifest for it."""
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2019-01-01T00:00:00Z",
            "author": self.author,
            "config": {"Labels": labels, "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [self._diff_ids[d] for d in layers]},
        }
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_digest = self.put_blob(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": len(config_bytes), "digest": config_digest},
            "layers": [
                {"mediaType": LAYER_TAR_GZIP, "size": len(self._blobs[d]), "digest": d}
                for d in layers
            ],
        }
        body = json.dumps(manifest, indent=3).encode()
        return digest_of(body), body

    def add_demo_repository(
        self,
        namespace: str,
        name: str,
        namespace_type: str,
        tags: list[str],
        aliases: dict[str, str] | None = None,
    ) -> Repository:
        """A repository whose tags have real manifests now; `aliases` tag another tag's image."""
        with self._lock:
            repo = self.create_repository(namespace, name, namespace_type)
            for tag in tags:
                digest, body = self._image(
                    {"repository": repo.full_name, "tag": tag}, self._base_layers
                )
                repo.manifests[digest] = (MANIFEST_V2, body)
                repo.tags[tag] = TagRecord(tag, digest, self._now, self._now, self.author)
            for alias, target in (aliases or {}).items():
                repo.tags[alias] = TagRecord(
                    alias, repo.tags[target].digest, self._now, self._now, self.author
                )
            repo.pushes = len(repo.tags)
            return repo

    def add_generated_repositories(self, count: int, tags_per_repo: int) -> None:
        """`count` repositories with `tags_per_repo` tags each; manifests are built on first use."""
        tag_names = [f"v{t + 1}" for t in range(tags_per_repo)]
        with self._lock:
            for i in range(count):
                namespace = f"org{i % 100:03d}"
                repo = Repository(
                    namespace, f"repo{i:05d}", "organization", self._now, generated_seed=i
                )
                repo.tags = {
                    t: TagRecord(t, None, self._now, self._now, self.author) for t in tag_names
                }
                repo.pushes = tags_per_repo
                self._repos[repo.full_name] = repo
                self._by_id[repo.id] = repo
            self._order = sorted(self._repos)

    def _materialise(self, repo: Repository, record: TagRecord) -> str:
        if record.digest is None:
            digest, body = self._image(
                {"repository": repo.full_name, "tag": record.name}, self._base_layers
            )
            repo.manifests[digest] = (MANIFEST_V2, body)
            record.digest = digest
        return record.digest

    # -- tags and manifests ------------------------------------------------------------------

    def tags(self, full_name: str) -> list[TagRecord]:
        """Every tag of the repository (digests filled in), sorted by name."""
        with self._lock:
            repo = self._require(full_name)
            for record in repo.tags.values():
                self._materialise(repo, record)
            return sorted(repo.tags.values(), key=lambda r: r.name)

    def manifest(self, full_name: str, reference: str) -> tuple[str, str, bytes]:
        """(digest, media type, bytes) of the manifest a tag or digest names."""
        with self._lock:
            repo = self._require(full_name)
            if reference.startswith("sha256:"):
                digest = reference
                for existing in repo.tags.values():
                    self._materialise(repo, existing)
            else:
                record = repo.tags.get(reference)
                if record is None:
                    raise RegistryError(
                        404, "MANIFEST_UNKNOWN", f"manifest unknown: {full_name}:{reference}"
                    )
                digest = self._materialise(repo, record)
            stored = repo.manifests.get(digest)
            if stored is None:
                raise RegistryError(
                    404, "MANIFEST_UNKNOWN", f"manifest unknown: {full_name}@{reference}"
                )
            return digest, stored[0], stored[1]

    def put_manifest(
        self, full_name: str, reference: str, media_type: str, body: bytes, create: bool
    ) -> str:
        """Store a pushed manifest after checking it and the blobs it references."""
        if media_type == MANIFEST_V1_SIGNED or media_type.startswith(
            "application/vnd.docker.distribution.manifest.v1"
        ):
            raise RegistryError(
                400, "MANIFEST_INVALID", "manifest schema v1 is not supported since DTR 2.5"
            )
        try:
            manifest = json.loads(body)
        except ValueError as exc:
            raise RegistryError(400, "MANIFEST_INVALID", f"manifest is not JSON: {exc}") from exc
        if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
            raise RegistryError(400, "MANIFEST_INVALID", "manifest must be schemaVersion 2")
        declared = str(manifest.get("mediaType") or media_type or MANIFEST_V2)
        if declared not in MANIFEST_TYPES:
            raise RegistryError(
                400, "MANIFEST_INVALID", f"unsupported manifest media type {declared}"
            )
        digest = digest_of(body)
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(
                400, "DIGEST_INVALID", f"manifest digest {digest} does not match {reference}"
            )
        namespace, _, name = full_name.partition("/")
        with self._lock:
            repo = self._repos.get(full_name)
            if repo is None:
                if not create:
                    raise RegistryError(
                        404, "NAME_UNKNOWN", f"repository {full_name} does not exist"
                    )
                repo = self.create_repository(namespace, name)
            if declared in (MANIFEST_LIST_V2, OCI_INDEX):
                missing = [
                    m.get("digest")
                    for m in manifest.get("manifests", [])
                    if m.get("digest") not in repo.manifests
                ]
            else:
                refs = [manifest.get("config", {}), *manifest.get("layers", [])]
                missing = [r.get("digest") for r in refs if r.get("digest") not in self._blobs]
            if missing:
                raise RegistryError(
                    400, "MANIFEST_BLOB_UNKNOWN", f"blob unknown to registry: {missing[0]}"
                )
            repo.manifests[digest] = (declared, bytes(body))
            if not reference.startswith("sha256:"):
                existing = repo.tags.get(reference)
                now = datetime.now(UTC)
                created = existing.created_at if existing else now
                repo.tags[reference] = TagRecord(reference, digest, created, now, self.author)
            repo.pushes += 1
            return digest

    def delete_manifest(self, full_name: str, reference: str) -> None:
        """Delete a manifest by digest (and every tag on it), or one tag by name."""
        with self._lock:
            repo = self._require(full_name)
            if reference.startswith("sha256:"):
                for record in list(repo.tags.values()):
                    if self._materialise(repo, record) == reference:
                        del repo.tags[record.name]
                if repo.manifests.pop(reference, None) is None:
                    raise RegistryError(404, "MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
            elif repo.tags.pop(reference, None) is None:
                raise RegistryError(
                    404, "MANIFEST_UNKNOWN", f"tag unknown: {full_name}:{reference}"
                )

    def delete_tag(self, full_name: str, tag: str) -> str | None:
        """Remove one tag (keeping its manifest); returns its digest, or None when absent."""
        with self._lock:
            repo = self._repos.get(full_name)
            if repo is None:
                return None
            record = repo.tags.get(tag)
            if record is None:
                return None
            digest = self._materialise(repo, record)
            del repo.tags[tag]
            return digest

    def _require(self, full_name: str) -> Repository:
        repo = self._repos.get(full_name)
        if repo is None:
            raise RegistryError(
                404, "NAME_UNKNOWN", f"repository name not known to registry: {full_name}"
            )
        return repo

    def manifest_summary(self, full_name: str, digest: str) -> dict[str, Any]:
        """The `responses.Manifest` view of a stored manifest."""
        with self._lock:
            media_type, body = self._require(full_name).manifests[digest]
        manifest = json.loads(body)
        config = manifest.get("config") or {}
        size = (
            len(body)
            + int(config.get("size", 0))
            + sum(int(x.get("size", 0)) for x in manifest.get("layers", []))
        )
        return {
            "digest": digest,
            "mediaType": media_type,
            "configMediaType": str(config.get("mediaType", "")),
            "configDigest": str(config.get("digest", "")),
            "size": size,
            "os": "linux",
            "architecture": "amd64",
            "author": self.author,
            "createdAt": iso(self._now - timedelta(days=1)),
        }

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, str]]:
        """{repository: {tag: digest}} for every repository (materialising generated tags)."""
        with self._lock:
            return {name: {r.name: r.digest or "" for r in self.tags(name)} for name in self._order}
