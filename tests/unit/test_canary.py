"""The canary image and its round trip, against an in-memory registry that can misbehave."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime

import pytest

from tests.support.servers import FakeClock
from upgrade.clients.errors import APIError
from upgrade.clients.registry import DIGEST, TAG, Manifest, sha256_digest
from upgrade.cluster.canary import CANARY_FILE, SCHEMA2, build_image, round_trip
from upgrade.config.settings import resolve
from upgrade.config.values import SettingsError

NOW = datetime(2026, 11, 26, 20, 0, 5, tzinfo=UTC)
REPO = "admin/canary"


class MemoryRegistry:
    """Blobs and manifests in dictionaries; `tamper` and `fail_on` make it misbehave."""

    def __init__(self, tamper: str = "", fail_on: str = "") -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.tag_of: dict[str, str] = {}
        self.tamper = tamper
        self.fail_on = fail_on
        self.keep_tag = False

    def _maybe_fail(self, call: str) -> None:
        if self.fail_on == call:
            raise APIError("registry", "PUT", f"/v2/{REPO}/...", 500, detail="storage failure")

    def push_blob(self, repo: str, data: bytes) -> str:
        self._maybe_fail("push_blob")
        digest = sha256_digest(data)
        self.blobs[digest] = data
        return digest

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        self._maybe_fail("put_manifest")
        digest = sha256_digest(body)
        self.manifests[digest] = body
        self.tag_of[reference] = digest
        return digest

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        body = self.manifests[self.tag_of.get(reference, reference)]
        if self.tamper == "manifest":
            body = body.replace(b"schemaVersion", b"schemaversion")
        return Manifest(SCHEMA2, reference, body)

    def get_blob(self, repo: str, digest: str, *, max_bytes: int = 1 << 20) -> bytes:
        data = self.blobs[digest]
        return data[:-1] if self.tamper == "blob" else data

    def delete_manifest(self, repo: str, digest: str) -> None:
        self._maybe_fail("delete_manifest")
        del self.manifests[digest]
        if not self.keep_tag:
            self.tag_of = {t: d for t, d in self.tag_of.items() if d != digest}

    def tags(self, repo: str, *, page_size: int = 100, max_pages: int = 100) -> list[str]:
        return sorted(self.tag_of)


def test_the_image_is_a_valid_schema2_image() -> None:
    image = build_image(NOW, "0a1b2c3d4e5f")
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == SCHEMA2
    assert manifest["config"]["digest"] == sha256_digest(image.config)
    assert manifest["config"]["size"] == len(image.config)
    assert manifest["layers"][0]["digest"] == sha256_digest(image.layer)
    raw_tar = gzip.decompress(image.layer)
    config = json.loads(image.config)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw_tar).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(raw_tar)) as tar:
        member = tar.extractfile(CANARY_FILE)
        assert member is not None
        assert b"0a1b2c3d4e5f" in member.read()
    assert TAG.fullmatch(image.tag)
    assert DIGEST.fullmatch(image.digest)


def test_every_canary_has_its_own_digest() -> None:
    assert build_image(NOW, "aaaaaaaaaaaa").digest != build_image(NOW, "bbbbbbbbbbbb").digest
    assert build_image(NOW).tag != build_image(NOW).tag
    assert build_image(NOW, "aaaaaaaaaaaa").digest == build_image(NOW, "aaaaaaaaaaaa").digest


def test_round_trip_pushes_pulls_verifies_and_deletes_the_tag() -> None:
    registry = MemoryRegistry()
    clock = FakeClock()
    result = round_trip(registry, REPO, image=build_image(NOW, "c0ffee000001"), clock=clock)
    assert result.ok, result.error
    assert result.digest.startswith("sha256:")
    assert registry.tag_of == {}
    assert [s["step"].split(" ")[0] for s in result.steps] == [
        "push",
        "push",
        "pull",
        "pull",
        "delete",
        "tag",
    ]
    assert result.as_dict()["tag_deleted"] is True


@pytest.mark.parametrize(
    ("tamper", "message"), [("manifest", "manifest pulled"), ("blob", "blob pulled")]
)
def test_content_that_comes_back_different_fails_and_still_deletes_the_tag(
    tamper: str, message: str
) -> None:
    registry = MemoryRegistry(tamper=tamper)
    result = round_trip(registry, REPO, image=build_image(NOW, "c0ffee000002"))
    assert not result.ok
    assert message in result.error
    assert result.cleaned_up
    assert registry.tag_of == {}


def test_a_failed_push_is_recorded_with_its_step() -> None:
    result = round_trip(MemoryRegistry(fail_on="push_blob"), REPO)
    assert not result.ok
    assert "storage failure" in result.error
    assert not result.cleaned_up
    assert result.steps[-1]["error"]


def test_a_push_to_a_repository_that_does_not_exist_names_the_fix() -> None:
    """DTR refuses a push to a missing repository unless Create repository on push is on."""
    registry = MemoryRegistry()

    def refused(repo: str, data: bytes) -> str:
        raise APIError(
            "DTR registry",
            "POST",
            f"/v2/{repo}/blobs/uploads/",
            404,
            code="NAME_UNKNOWN",
            detail="repository name not known to registry",
        )

    registry.push_blob = refused  # type: ignore[method-assign]
    result = round_trip(registry, REPO)
    assert not result.ok
    assert not result.digest
    assert f"DTR has no repository {REPO} and does not create one on push" in result.error
    assert "createRepositoryOnPush" in result.error
    assert f"create {REPO} (Repositories > New repository" in result.error
    assert "--canary-repo=NAMESPACE/REPOSITORY of an existing repository" in result.error


def test_a_tag_left_listed_after_the_delete_fails() -> None:
    registry = MemoryRegistry()
    registry.keep_tag = True
    result = round_trip(registry, REPO, image=build_image(NOW, "c0ffee000003"))
    assert "is still listed after its manifest was deleted" in result.error


@pytest.mark.parametrize("value", ["canary", "Admin/Canary", "admin/canary/extra", "admin/"])
def test_canary_repo_option_wants_namespace_and_repository(value: str) -> None:
    with pytest.raises(SettingsError, match="expected NAMESPACE/REPO in lower case"):
        resolve(lambda spec: value if spec.dest == "canary_repo" else None, {})
    settings = resolve(lambda spec: "admin/canary" if spec.dest == "canary_repo" else None, {})
    assert settings.canary_repo == "admin/canary"
