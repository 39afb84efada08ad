"""The data-plane proof's rules: what a manifest references, the sample, coverage and comparison.

No I/O here (`upgrade.cluster.dataproof_run` talks to the registry). The facts it relies on are
the Docker registry HTTP API V2 and image manifest V2 schema 2 specifications
(distribution/distribution docs/spec/api.md and docs/spec/manifest-v2-2.md) and the OCI image
spec (image-manifest.md, image-index.md):

- a manifest is content addressed: its digest is the sha256 of its exact bytes, and
  `GET /v2/<name>/manifests/<digest>` must answer those bytes;
- an image manifest (schema 2 or OCI) references a `config` blob and `layers` blobs by digest; a
  manifest list (or OCI index) references platform manifests (`manifests`) by digest, in the
  same repository;
- a blob is asked for per repository (`HEAD /v2/<name>/blobs/<digest>`): distribution links a
  blob into each repository that holds it, and a pull fails with BLOB_UNKNOWN when the link or
  the stored blob is gone; so "each distinct blob once" means once per repository and digest;
- a schema 1 manifest (`...manifest.v1+prettyjws` or `...v1+json`, docs/spec/manifest-v2-1.md)
  references its layers as `fsLayers[].blobSum`; a signed one's digest is over its payload
  without the signatures, which libtrust's JWS header gives as `formatLength` and `formatTail`;
- a foreign layer (`application/vnd.docker.image.rootfs.foreign.diff.tar.gzip`, or any
  descriptor with `urls`) is fetched from its URLs, not from the registry, so it is not asked.

Which manifests: the sample is drawn from the distinct (repository, digest) pairs of the
inventory, sorted, with `random.Random(seed)`: the same seed over the same inventory draws the
same sample, which is how post proves what preflight proved.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from upgrade.config.proof_mode import ProofMode

__all__ = [
    "Comparison",
    "Coverage",
    "Failure",
    "ManifestRef",
    "ProofResult",
    "References",
    "choose",
    "chosen_manifests",
    "compare",
    "covered_tags",
    "manifests_of",
    "references",
    "schema1_payload",
]

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST_V2 = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LISTS = (MANIFEST_LIST_V2, OCI_INDEX)
IMAGES = (MANIFEST_V2, OCI_MANIFEST)
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)
FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
SHOWN = 200


@dataclass(frozen=True)
class ManifestRef:
    """One distinct manifest of the inventory: its repository, digest and the tags on it."""

    repository: str
    digest: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class References:
    """What one manifest references: blobs (config, layers) and platform manifests."""

    blobs: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    problem: str = ""


def _digests(items: object, what: str) -> tuple[list[str], str]:
    if not isinstance(items, list):
        return [], f"its {what} is not a list"
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("digest"), str):
            return [], f"an entry of its {what} has no digest"
        if item.get("mediaType") == FOREIGN_LAYER or item.get("urls"):
            continue  # fetched from its URLs, not from the registry
        found.append(item["digest"])
    return found, ""


def references(media_type: str, body: bytes) -> References:
    """The blobs and platform manifests `body` references, by the manifest's media type (the
    `Content-Type` answered, else its `mediaType` field); `problem` says why it cannot be read."""
    try:
        document = json.loads(body)
    except ValueError:
        return References(problem="it is not JSON")
    if not isinstance(document, dict):
        return References(problem="it is not a JSON object")
    if document.get("schemaVersion") == 1 or media_type in SCHEMA1:
        layers = document.get("fsLayers")
        if not isinstance(layers, list) or not all(
            isinstance(x, dict) and isinstance(x.get("blobSum"), str) for x in layers
        ):
            return References(problem="its fsLayers have no blobSum")
        return References(blobs=tuple(dict.fromkeys(x["blobSum"] for x in layers)))
    declared = document.get("mediaType")
    kind = media_type if media_type in LISTS + IMAGES else declared
    if kind not in LISTS + IMAGES:
        kind = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    if document.get("schemaVersion") != 2:
        return References(problem="it is not schemaVersion 2")
    if kind in LISTS:
        children, problem = _digests(document.get("manifests"), "manifests")
        return References(children=tuple(children), problem=problem)
    config = document.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
        return References(problem="it has no config digest")
    layers, problem = _digests(document.get("layers", []), "layers")
    return References(blobs=tuple(dict.fromkeys([config["digest"], *layers])), problem=problem)


def schema1_payload(body: bytes) -> bytes | None:
    """The bytes a signed schema 1 manifest's digest is taken over: the first `formatLength`
    bytes and the decoded `formatTail` of its first signature's protected header; None when
    the manifest carries no such signature."""
    try:
        signatures = json.loads(body).get("signatures") or []
        protected = str(signatures[0]["protected"])
        header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
        tail = str(header["formatTail"])
        length = int(header["formatLength"])
        return body[:length] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def manifests_of(inventory: Mapping[str, Mapping[str, str]]) -> list[ManifestRef]:
    """The inventory's distinct (repository, digest) pairs with their tags, sorted."""
    found: list[ManifestRef] = []
    for repository in sorted(inventory):
        by_digest: dict[str, list[str]] = {}
        for tag, digest in inventory[repository].items():
            by_digest.setdefault(digest, []).append(tag)
        found.extend(
            ManifestRef(repository, digest, tuple(sorted(tags)))
            for digest, tags in sorted(by_digest.items())
        )
    return found


def choose(manifests: Sequence[ManifestRef], mode: ProofMode, seed: int) -> list[ManifestRef]:
    """The manifests the proof checks: all (`full`, or a sample at least as large as the
    inventory), none (`off`), or `mode.size` drawn by `random.Random(seed)`, in inventory order."""
    if mode.kind == "off":
        return []
    if mode.kind == "full" or mode.size >= len(manifests):
        return list(manifests)
    # A reproducible draw, not a secret: the seed is published in the evidence on purpose.
    draw = random.Random(seed)  # noqa: S311
    picked = sorted(draw.sample(range(len(manifests)), mode.size))
    return [manifests[i] for i in picked]


def _distinct(tags: Mapping[str, str]) -> list[tuple[str, tuple[str, ...]]]:
    by_digest: dict[str, list[str]] = {}
    for tag, digest in tags.items():
        by_digest.setdefault(digest, []).append(tag)
    return [(digest, tuple(sorted(names))) for digest, names in sorted(by_digest.items())]


def chosen_manifests(
    inventory: Mapping[str, Mapping[str, str]], mode: ProofMode, seed: int
) -> tuple[int, list[ManifestRef]]:
    """(how many distinct manifests the inventory holds, the ones `mode` and `seed` choose):
    exactly `choose(manifests_of(inventory), mode, seed)`, without building a reference for
    every manifest of a large registry when only a sample is drawn."""
    if mode.kind != "sample":
        every = manifests_of(inventory)
        return len(every), choose(every, mode, seed)
    names = sorted(inventory)
    counts = [len(set(inventory[name].values())) for name in names]
    total = sum(counts)
    if mode.size >= total:
        return total, manifests_of(inventory)
    draw = random.Random(seed)  # noqa: S311 - reproducible on purpose (the seed is published)
    picked = sorted(draw.sample(range(total), mode.size))
    chosen: list[ManifestRef] = []
    start, index = 0, 0
    for name, count in zip(names, counts, strict=True):
        end = start + count
        if index < len(picked) and picked[index] < end:
            distinct = _distinct(inventory[name])
            while index < len(picked) and picked[index] < end:
                digest, tags = distinct[picked[index] - start]
                chosen.append(ManifestRef(name, digest, tags))
                index += 1
        start = end
    return total, chosen


@dataclass(frozen=True)
class Failure:
    """One thing a pull would fail on: which object of which repository and tag, and why.

    `status` is the HTTP status answered (0 when there was no answer); `kind` is `manifest`,
    `platform manifest` or `blob`.
    """

    kind: str
    repository: str
    tag: str
    digest: str
    status: int
    problem: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two failures the same damage: the object, its repository and digest."""
        return ("blob" if self.kind == "blob" else "manifest", self.repository, self.digest)

    def describe(self) -> str:
        """`repo:tag blob sha256:... (HTTP 404: ...)`, for messages."""
        return (
            f"{self.repository}:{self.tag} {self.kind} {self.digest} "
            f"(HTTP {self.status or 'none'}: {self.problem})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The failure as evidence."""
        return {
            "kind": self.kind,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "status": self.status,
            "problem": self.problem,
        }


@dataclass
class Coverage:
    """How much of the inventory a proof checked, and the requests it took."""

    manifests_total: int = 0
    tags_total: int = 0
    manifests_checked: int = 0
    tags_checked: int = 0
    platform_manifests_checked: int = 0
    blobs_checked: int = 0
    requests: int = 0

    def add(self, other: Coverage) -> None:
        """Add another part's counts (the totals are the whole proof's, set once)."""
        self.manifests_checked += other.manifests_checked
        self.tags_checked += other.tags_checked
        self.platform_manifests_checked += other.platform_manifests_checked
        self.blobs_checked += other.blobs_checked
        self.requests += other.requests

    @staticmethod
    def percent(part: int, whole: int) -> float:
        """`part` of `whole` in percent, one decimal; 100 when there is nothing to check."""
        return 100.0 if whole == 0 else round(100.0 * part / whole, 1)

    def as_dict(self) -> dict[str, Any]:
        """The coverage as evidence."""
        return {
            "manifests": f"{self.manifests_checked} of {self.manifests_total}",
            "manifests_percent": self.percent(self.manifests_checked, self.manifests_total),
            "tags": f"{self.tags_checked} of {self.tags_total}",
            "tags_percent": self.percent(self.tags_checked, self.tags_total),
            "platform_manifests_checked": self.platform_manifests_checked,
            "blobs_checked": self.blobs_checked,
            "blobs_note": "every distinct blob (per repository) the checked manifests reference",
            "requests": self.requests,
        }


@dataclass
class ProofResult:
    """One proof: how it was drawn (mode, seed), what it covered, what failed, how long."""

    mode: str
    seed: int
    coverage: Coverage
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0

    def as_dict(self, shown: int | None = None) -> dict[str, Any]:
        """The proof as evidence: every failure, or the first `shown` and how many."""
        failures = self.failures if shown is None else self.failures[:shown]
        return {
            "mode": self.mode,
            "seed": self.seed,
            "coverage": self.coverage.as_dict(),
            "failure_count": len(self.failures),
            "failures": [f.as_dict() for f in failures],
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "requests_per_s": round(self.coverage.requests / self.seconds, 1)
            if self.seconds > 0
            else 0.0,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProofResult:
        """A proof read back from `data-proof.json` (its failures and how it was drawn)."""
        failures = [
            Failure(
                str(f["kind"]),
                str(f["repository"]),
                str(f["tag"]),
                str(f["digest"]),
                int(f["status"]),
                str(f["problem"]),
            )
            for f in data.get("failures", [])
        ]
        return cls(str(data["mode"]), int(data["seed"]), Coverage(), failures)


@dataclass(frozen=True)
class Comparison:
    """Post's failures against preflight's proof: new ones (proven good before, so the
    upgrade's), ones that were there before, ones on tags preflight did not check (`unproven`),
    and preflight's failures that are gone."""

    new: tuple[Failure, ...]
    before: tuple[Failure, ...]
    unproven: tuple[Failure, ...]
    gone: tuple[Failure, ...]


def covered_tags(
    inventory: Mapping[str, Mapping[str, str]], mode: ProofMode, seed: int
) -> set[tuple[str, str]]:
    """The (repository, tag) pairs a proof drawn with `mode` and `seed` checked."""
    return {
        (ref.repository, tag)
        for ref in choose(manifests_of(inventory), mode, seed)
        for tag in ref.tags
    }


def compare(
    before: Iterable[Failure] | None,
    after: Iterable[Failure],
    covered: Collection[tuple[str, str]] = (),
) -> Comparison:
    """Sort `after`'s failures by what the earlier proof (`before`, None when there was none)
    saw: failing then too, proven good then (on a tag in `covered`), or not checked then."""
    earlier = {f.key: f for f in before or ()}
    now = list(after)
    keys = {f.key for f in now}
    fresh = [f for f in now if f.key not in earlier]
    return Comparison(
        new=tuple(f for f in fresh if (f.repository, f.tag) in covered),
        before=tuple(f for f in now if f.key in earlier),
        unproven=tuple(f for f in fresh if (f.repository, f.tag) not in covered),
        gone=tuple(f for k, f in earlier.items() if k not in keys),
    )
