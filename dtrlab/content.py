"""The lab registry's content types: media types, digests, repositories, tags and uploads."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST_V2 = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MANIFEST_TYPES = (MANIFEST_V2, MANIFEST_LIST_V2, OCI_MANIFEST, OCI_INDEX)
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

LAB_NAMESPACE = uuid.UUID("6f1d9e1c-41f5-4c8a-9d1e-2b3a4c5d6e7f")


def digest_of(data: bytes) -> str:
    """The sha256 content digest of `data`, as the registry names blobs and manifests."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def iso(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as DTR formats times."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def layer_tar(path: str, content: bytes) -> bytes:
    """A gzipped tar holding one file, byte-for-byte reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(path)
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


class RegistryError(Exception):
    """A registry API error: status, distribution error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class TagRecord:
    """One tag of a repository; `digest` is None until a generated tag is first used."""

    name: str
    digest: str | None
    created_at: datetime
    updated_at: datetime
    author: str


@dataclass
class Repository:
    """A DTR repository `namespace/name` and its registry content."""

    namespace: str
    name: str
    namespace_type: str
    created_at: datetime
    id: str = ""
    tags: dict[str, TagRecord] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    pushes: int = 0
    pulls: int = 0
    generated_seed: int | None = None

    def __post_init__(self) -> None:
        if not self.id:
            self.id = str(uuid.uuid5(LAB_NAMESPACE, self.full_name))

    @property
    def full_name(self) -> str:
        """namespace/name."""
        return f"{self.namespace}/{self.name}"


@dataclass
class Upload:
    """An upload session started by POST /v2/<name>/blobs/uploads/."""

    repository: str
    data: bytearray = field(default_factory=bytearray)
