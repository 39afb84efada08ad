"""The tags whose manifests are schema 1, which DTR 2.6's upgrade looks for.

DTR 2.6's `upgrade` checks for "manifest v1 images" unless `--no-image-check` is given
(reference/dtr/2.6/cli/upgrade.md: "Disable the check for manifest v1 images during the
upgrade"; fidelity-review.md 14). What that check does when it finds some is not documented, so
the harness takes the safe reading: it may stop the upgrade. A tag's manifest type is the
`manifest.mediaType` of DTR's tag listing (`responses.ListTag` / `responses.Manifest` of the
2.6 and 2.7 Swagger); schema 1 is `application/vnd.docker.distribution.manifest.v1+prettyjws`
(signed) or `...v1+json` (distribution's manifest schema 1).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Final

from upgrade.clients.dtr import DTRClient
from upgrade.clients.dtr_records import Repository, Tag
from upgrade.clients.errors import APIError

__all__ = ["SCHEMA1_MEDIA_TYPES", "Schema1Survey", "is_schema1", "survey"]

SCHEMA1_MEDIA_TYPES: Final = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)
WORKERS: Final = 16
# How many schema-1 tags are named in a message; the evidence keeps them all.
SHOWN: Final = 5


def is_schema1(media_type: str) -> bool:
    """Whether a manifest media type is schema 1."""
    return media_type.split(";")[0].strip() in SCHEMA1_MEDIA_TYPES


@dataclass(frozen=True)
class Schema1Survey:
    """What the tag listings said: the schema-1 tags (`namespace/repo:tag`), how many
    repositories and tags were read, and how many tags gave no media type."""

    schema1: tuple[str, ...]
    repositories: int
    tags: int
    untyped: int

    def shown(self) -> str:
        """The first schema-1 tags, for a message."""
        more = len(self.schema1) - SHOWN
        return ", ".join(self.schema1[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _tags(dtr: DTRClient, repo: Repository) -> list[Tag]:
    try:
        return dtr.tags(repo.namespace, repo.name)
    except APIError as error:
        if error.status == 404:  # deleted since the listing
            return []
        raise


def survey(dtr: DTRClient, workers: int = WORKERS) -> Schema1Survey:
    """Read every repository's tag listing (`workers` at a time) and collect the schema-1 tags."""
    repositories = dtr.repositories()
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="schema1") as pool:
        listings = list(pool.map(lambda repo: (repo, _tags(dtr, repo)), repositories))
    schema1 = sorted(
        f"{repo.full_name}:{tag.name}"
        for repo, tags in listings
        for tag in tags
        if is_schema1(tag.media_type)
    )
    tags = sum(len(found) for _, found in listings)
    untyped = sum(1 for _, found in listings for tag in found if not tag.media_type)
    return Schema1Survey(tuple(schema1), len(repositories), tags, untyped)
