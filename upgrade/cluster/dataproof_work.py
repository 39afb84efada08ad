"""The data-plane proof's work against the registry (`/v2/`): what a `docker pull` would meet.

For each chosen manifest (`upgrade.cluster.dataproof.choose`): `GET /v2/<repo>/manifests/<digest>`
and its bytes hashed to that digest; a manifest list's platform manifests the same way; then
`HEAD /v2/<repo>/blobs/<digest>` once for each distinct blob of the repository they reference.
The work is one task per few repositories on a bounded thread pool over the registry client
(whose token cache renews tokens ahead of `expires_in` and on 401), with at most `4 x workers`
tasks queued at a time, so memory does not grow with the registry. A task's repositories get
their pull tokens from one token request (`RegistryClient.authorize_pull`): a token request per
repository was a quarter of a sampled proof's requests. Nothing is written.
"""

from __future__ import annotations

import concurrent.futures
import itertools
from collections.abc import Callable, Iterator, Sequence

from upgrade.clients.errors import APIError, AuthenticationFailed, PermissionDenied
from upgrade.clients.registry import RegistryClient, sha256_digest
from upgrade.clients.registry_auth import MAX_SCOPES_PER_TOKEN
from upgrade.cluster.dataproof import (
    LISTS,
    SCHEMA1,
    Coverage,
    Failure,
    ManifestRef,
    references,
    schema1_payload,
)
from upgrade.errors import HarnessError, one_line

__all__ = ["Part", "prove_threads"]


def _status(error: HarnessError) -> int:
    if isinstance(error, APIError):
        return error.status
    if isinstance(error, AuthenticationFailed):
        return 401
    if isinstance(error, PermissionDenied):
        return 403
    return 0


class _RepositoryProof:
    """The proof of one repository's chosen manifests, run by one worker."""

    def __init__(self, registry: RegistryClient, repository: str) -> None:
        self.registry = registry
        self.repository = repository
        self.coverage = Coverage()
        self.failures: list[Failure] = []
        self._blobs: dict[str, str] = {}  # digest -> the tag it was first met under
        self._seen: set[str] = set()
        self._platforms: set[str] = set()

    def fail(self, kind: str, tag: str, digest: str, status: int, problem: str) -> None:
        self.failures.append(Failure(kind, self.repository, tag, digest, status, problem))

    def manifest(self, digest: str, tag: str, kind: str) -> None:
        """Fetch and verify one manifest; follow a list's platform manifests; note its blobs."""
        if digest in self._seen:
            return
        self._seen.add(digest)
        self.coverage.requests += 1
        try:
            fetched = self.registry.fetch_manifest(self.repository, digest)
        except HarnessError as error:
            self.fail(kind, tag, digest, _status(error), one_line(str(error)))
            return
        if fetched.status != 200:
            self.fail(kind, tag, digest, fetched.status, "manifest unknown to the registry")
            return
        actual = sha256_digest(fetched.body)
        if actual != digest and fetched.media_type in SCHEMA1:
            payload = schema1_payload(fetched.body)
            actual = sha256_digest(payload) if payload is not None else actual
        if digest.startswith("sha256:") and actual != digest:
            self.fail(kind, tag, digest, 200, f"the bytes served hash to {actual}")
            return
        refs = references(fetched.media_type, fetched.body)
        if refs.problem:
            self.fail(kind, tag, digest, 200, f"the manifest cannot be read: {refs.problem}")
            return
        if fetched.media_type in LISTS or refs.children:
            for child in refs.children:
                self._platforms.add(child)
                self.manifest(child, tag, "platform manifest")
        for blob in refs.blobs:
            self._blobs.setdefault(blob, tag)

    def blobs(self) -> None:
        """`HEAD` every distinct blob the repository's checked manifests reference."""
        self.coverage.platform_manifests_checked = len(self._platforms)
        for digest, tag in self._blobs.items():
            self.coverage.requests += 1
            self.coverage.blobs_checked += 1
            try:
                status = self.registry.blob_status(self.repository, digest)
            except HarnessError as error:
                self.fail("blob", tag, digest, _status(error), one_line(str(error)))
                continue
            if status != 200:
                self.fail("blob", tag, digest, status, "blob unknown to the registry")


def _prove_repository(registry: RegistryClient, refs: Sequence[ManifestRef]) -> _RepositoryProof:
    proof = _RepositoryProof(registry, refs[0].repository)
    for ref in refs:
        proof.coverage.manifests_checked += 1
        proof.coverage.tags_checked += len(ref.tags)
        proof.manifest(ref.digest, ref.tags[0], "manifest")
    proof.blobs()
    return proof


def _prove_repositories(
    registry: RegistryClient, groups: Sequence[Sequence[ManifestRef]]
) -> list[_RepositoryProof]:
    """Prove a few repositories in turn, their pull tokens asked for together (the first
    repository's challenge names the token realm when no earlier request did)."""
    names = [group[0].repository for group in groups]
    registry.authorize_pull(names)
    proofs = [_prove_repository(registry, groups[0])]
    registry.authorize_pull(names[1:])
    proofs += [_prove_repository(registry, group) for group in groups[1:]]
    return proofs


def _by_repository(refs: Sequence[ManifestRef]) -> Iterator[list[ManifestRef]]:
    for _, group in itertools.groupby(refs, key=lambda ref: ref.repository):
        yield list(group)


def _batches(groups: Iterator[list[ManifestRef]], size: int) -> Iterator[list[list[ManifestRef]]]:
    while batch := list(itertools.islice(groups, size)):
        yield batch


Part = Callable[[Coverage, Sequence[Failure], int], None]
"""Told each finished part of a proof: its coverage, its failures, its repositories."""


def prove_threads(
    registry: RegistryClient, chosen: Sequence[ManifestRef], workers: int, on_part: Part
) -> None:
    """Prove `chosen` (grouped by repository) on a pool of `workers` threads, telling `on_part`
    each batch of repositories as it finishes; at most `4 x workers` batches are queued."""
    repositories = len({ref.repository for ref in chosen})
    # a few repositories per task, so that every worker still has work until near the end
    per_task = max(1, min(MAX_SCOPES_PER_TOKEN, repositories // (4 * workers)))
    tasks = _batches(_by_repository(chosen), per_task)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="data-proof") as pool:
        pending: set[concurrent.futures.Future[list[_RepositoryProof]]] = set()
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 4 * workers:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                else:
                    pending.add(pool.submit(_prove_repositories, registry, task))
            if not pending:
                break
            finished, pending = concurrent.futures.wait(
                pending, timeout=1.0, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                parts = future.result()
                coverage = Coverage()
                failures: list[Failure] = []
                for part in parts:
                    coverage.add(part.coverage)
                    failures.extend(part.failures)
                on_part(coverage, failures, len(parts))
