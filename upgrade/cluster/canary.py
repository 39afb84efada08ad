"""The canary round trip: push a tiny image through DTR's `/v2/`, pull it back by digest,
verify every byte, and delete its tag.

The image is built in memory: one layer (a gzipped tar holding a single text file) and an image
configuration that names the layer's uncompressed digest, under a Docker schema 2 manifest.
Every canary carries a unique nonce, so its manifest digest is its own: deleting the manifest
by digest (which is how the registry API removes a tag) can never remove another tag.
"""

from __future__ import annotations

import gzip
import io
import json
import secrets
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from upgrade.clients.errors import APIError
from upgrade.clients.registry import Manifest, sha256_digest
from upgrade.errors import HarnessError
from upgrade.evidence.records import utc_now

__all__ = [
    "CANARY_FILE",
    "CanaryError",
    "CanaryImage",
    "CanaryResult",
    "RegistryAPI",
    "build_image",
    "round_trip",
]

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CANARY_FILE = "dtr-upgrade-canary.txt"
TAG_PREFIX = "dtr-upgrade-canary-"


class CanaryError(HarnessError):
    """The canary image did not come back as it was pushed."""


class RegistryAPI(Protocol):
    """The part of `RegistryClient` the canary uses."""

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob; its digest."""

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """Store a manifest under a tag; its digest."""

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        """A manifest by tag or digest, checked against its digest."""

    def get_blob(self, repo: str, digest: str, *, max_bytes: int = ...) -> bytes:
        """A blob, checked against its digest."""

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest (and so its tags) by digest."""

    def tags(self, repo: str, *, page_size: int = ..., max_pages: int = ...) -> list[str]:
        """The tags of a repository."""


@dataclass(frozen=True)
class CanaryImage:
    """A complete image: configuration, one layer, and the manifest naming both."""

    tag: str
    config: bytes
    layer: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest digest the registry must answer for this image."""
        return sha256_digest(self.manifest)


def _layer(content: bytes) -> tuple[bytes, str]:
    """(gzipped tar with one file, digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(CANARY_FILE)
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def build_image(now: datetime, nonce: str | None = None) -> CanaryImage:
    """A canary image unique to `nonce` (random when not given), tagged with the time."""
    nonce = nonce or secrets.token_hex(6)
    stamp = now.strftime("%Y%m%dt%H%M%Sz")
    tag = f"{TAG_PREFIX}{stamp}-{nonce}"
    content = f"DTR upgrade verification canary {nonce} pushed at {now.isoformat()}\n".encode()
    layer, diff_id = _layer(content)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": now.isoformat(),
            "config": {"Labels": {"com.example.dtr-upgrade.cluster.canary": nonce}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": now.isoformat(), "created_by": "dtr-upgrade canary"}],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {
                "mediaType": CONFIG_TYPE,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [
                {"mediaType": LAYER_TYPE, "size": len(layer), "digest": sha256_digest(layer)}
            ],
        },
        indent=3,
    ).encode()
    return CanaryImage(tag=tag, config=config, layer=layer, manifest=manifest)


@dataclass
class CanaryResult:
    """What the round trip did, step by step, with timings."""

    repository: str
    tag: str
    digest: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    cleaned_up: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """Every step passed: pushed, pulled back identical, tag deleted."""
        return not self.error and self.cleaned_up

    def as_dict(self) -> dict[str, Any]:
        """The round trip as evidence."""
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "steps": self.steps,
            "tag_deleted": self.cleaned_up,
            "error": self.error,
        }


def round_trip(
    registry: RegistryAPI,
    repository: str,
    *,
    image: CanaryImage | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CanaryResult:
    """Push the canary to `repository`, pull it back by digest, verify it, delete its tag.

    The tag is deleted even when a later step fails, once the manifest was pushed. A failure
    (content that came back different, or a client error) is recorded in `result.error` with
    the steps done so far; nothing is raised for it.
    """
    canary = image or build_image(utc_now())
    result = CanaryResult(repository, canary.tag)
    try:
        _run(registry, canary, result, clock)
    except HarnessError as exc:
        result.error = str(exc)
    return result


def _unknown_repository(repo: str, exc: APIError) -> CanaryError | None:
    """The fix for a push refused because `repo` does not exist: "By default DTR only allows
    pushing images if the repository exists" unless Create repository on push
    (createRepositoryOnPush) is on (docs.docker.com/ee/dtr/admin/configure/
    allow-creation-on-push/); the registry answers 404 NAME_UNKNOWN (distribution's error code
    for an unknown repository)."""
    if exc.status != 404 and exc.code != "NAME_UNKNOWN":
        return None
    namespace = repo.partition("/")[0]
    return CanaryError(
        f"DTR has no repository {repo} and does not create one on push (createRepositoryOnPush "
        f"is off, DTR's default; it answered {exc.status} {exc.code or 'without an error code'}):"
        f" create {repo} (Repositories > New repository, or POST /api/v0/repositories/"
        f"{namespace}) or pass --canary-repo=NAMESPACE/REPOSITORY of an existing repository"
    )


def _run(
    registry: RegistryAPI, canary: CanaryImage, result: CanaryResult, clock: Callable[[], float]
) -> None:
    repo = result.repository

    @contextmanager
    def step(name: str) -> Iterator[None]:
        began = clock()
        entry: dict[str, Any] = {"step": name}
        result.steps.append(entry)
        try:
            yield
        except Exception as exc:
            entry["error"] = str(exc)
            raise
        finally:
            entry["duration_s"] = round(clock() - began, 3)

    with step("push config and layer blobs"):
        try:
            for blob in (canary.config, canary.layer):
                registry.push_blob(repo, blob)
        except APIError as exc:
            raise _unknown_repository(repo, exc) or exc from None
    with step(f"push manifest as {repo}:{canary.tag}"):
        digest = registry.put_manifest(repo, canary.tag, canary.manifest, SCHEMA2)
    result.digest = digest
    try:
        if digest != canary.digest:
            raise CanaryError(
                f"the registry stored {repo}:{canary.tag} as {digest}, not as its content "
                f"digest {canary.digest}"
            )
        with step(f"pull manifest by digest {digest}"):
            pulled = registry.get_manifest(repo, digest)
            if pulled.body != canary.manifest:
                raise CanaryError(
                    f"the manifest pulled from {repo}@{digest} differs from the one pushed"
                )
        with step("pull and verify config and layer"):
            for name, blob in (("configuration", canary.config), ("layer", canary.layer)):
                data = registry.get_blob(repo, sha256_digest(blob))
                if data != blob:
                    raise CanaryError(
                        f"the {name} blob pulled from {repo} differs from the one pushed"
                    )
            if CANARY_FILE.encode() not in gzip.decompress(canary.layer):
                raise CanaryError("the canary layer lost its file")
    finally:
        with step(f"delete tag {canary.tag} (manifest {digest})"):
            registry.delete_manifest(repo, digest)
            result.cleaned_up = True
    with step("tag gone from the tag list"):
        if canary.tag in registry.tags(repo):
            raise CanaryError(
                f"{repo}:{canary.tag} is still listed after its manifest was deleted; delete it "
                "in DTR (Repositories > Tags)"
            )
