"""DTR 2.6's manifest v1 image check: --no-image-check reaches a 2.6 bootstrapper only
(reference/dtr/2.6/cli/upgrade.md), and the schema-1 tags are found from DTR's tag listing's
`manifest.mediaType` (responses.ListTag / responses.Manifest)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.bootstrapper_requests import make_request
from upgrade.clients.dtr_records import Repository, Tag
from upgrade.clients.errors import APIError
from upgrade.cluster import manifest_v1
from upgrade.procedure.bootstrapper import (
    accepts_no_image_check,
    bootstrapper_args,
)
from upgrade.rules.versions import Version

V1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
V2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_no_image_check_is_passed_as_the_documented_flag() -> None:
    assert bootstrapper_args(make_request(no_image_check=True))[-1] == "--no-image-check"
    assert "--no-image-check" not in bootstrapper_args(make_request())


@pytest.mark.parametrize(
    ("version", "accepted"),
    [("2.6.0", True), ("2.6.15", True), ("2.5.11", False), ("2.7.8", False), ("3.6.0", False)],
)
def test_only_the_2_6_bootstrapper_has_the_flag(version: str, accepted: bool) -> None:
    assert accepts_no_image_check(Version.parse(version)) is accepted


class FakeDTR:
    def __init__(self, listings: dict[str, list[Tag] | None]) -> None:
        self.listings = listings

    def repositories(self) -> list[Repository]:
        return [Repository(name, *name.split("/")) for name in self.listings]

    def tags(self, namespace: str, name: str) -> list[Tag]:
        found = self.listings[f"{namespace}/{name}"]
        if found is None:
            raise APIError("DTR", "GET", "/tags", 404, code="NO_SUCH_REPOSITORY")
        return found


def tag(name: str, media_type: str) -> Tag:
    return Tag(name, "sha256:" + "0" * 64, datetime(2026, 1, 1, tzinfo=UTC), media_type)


def test_the_survey_names_schema1_tags_and_counts_untyped_ones() -> None:
    dtr = FakeDTR(
        {
            "legacy/centos": [tag("6", V1), tag("7", V2)],
            "engineering/api": [tag("1.0.0", V2), tag("old", "")],
            "gone/repo": None,
        }
    )
    found = manifest_v1.survey(dtr, workers=2)  # type: ignore[arg-type]
    assert found.schema1 == ("legacy/centos:6",)
    assert (found.repositories, found.tags, found.untyped) == (3, 4, 1)
    assert found.shown() == "legacy/centos:6"
    assert manifest_v1.is_schema1("application/vnd.docker.distribution.manifest.v1+json")
    assert not manifest_v1.is_schema1(V2)
