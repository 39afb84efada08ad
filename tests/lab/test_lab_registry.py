"""The registry's /v2/ plane with a real HTTP client: token auth, push, pull by digest."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator

import pytest
import requests

from dtrlab import Lab
from dtrlab.store import CONFIG_V1, LAYER_TAR_GZIP, MANIFEST_V2
from tests.lab.conftest import session_for


def sha256(data: bytes) -> str:
    """The registry digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    """A lab that creates repositories on push: the push tests push to new repositories."""
    return make_lab(scenarios=("create-on-push",))


def bearer_session(lab: Lab) -> requests.Session:
    """A session carrying a bearer token from /auth/token, as docker login would get one."""
    session = session_for(lab)
    token = session.get(lab.url + "/auth/token", timeout=10).json()["token"]
    session.auth = None
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.fixture
def registry(lab: Lab) -> Iterator[requests.Session]:
    """The admin's registry session."""
    with bearer_session(lab) as session:
        yield session


def test_a_push_to_a_missing_repository_is_refused_by_default(
    make_lab: Callable[..., Lab],
) -> None:
    """DTR's default: a push only to an existing repository ("By default DTR only allows pushing
    images if the repository exists", docs.docker.com/ee/dtr/admin/configure/
    allow-creation-on-push/); the upload answers 404 NAME_UNKNOWN."""
    lab = make_lab()
    with bearer_session(lab) as registry:
        base = f"{lab.url}/v2/admin/missing"
        upload = registry.post(base + "/blobs/uploads/", timeout=10)
        assert upload.status_code == 404
        assert upload.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        existing = registry.post(f"{lab.url}/v2/admin/alpine/blobs/uploads/", timeout=10)
        assert existing.status_code == 202


def test_lab_registry_challenges_like_distribution(lab: Lab) -> None:
    """Without a token /v2/ answers 401 with a Bearer challenge naming /auth/token; basic auth
    is not accepted on /v2/."""
    with session_for(lab) as session:
        session.auth = None
        response = session.get(lab.url + "/v2/", timeout=10)
        assert response.status_code == 401
        challenge = response.headers["WWW-Authenticate"]
        host = lab.url.removeprefix("https://")
        assert challenge.startswith(f'Bearer realm="https://{host}/auth/token",service="{host}"')
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
        basic = session.get(
            lab.url + "/v2/admin/alpine/tags/list",
            auth=(lab.credentials.username, lab.credentials.password),
            timeout=10,
        )
        assert basic.status_code == 401
        assert 'scope="repository:admin/alpine:pull"' in basic.headers["WWW-Authenticate"]


def test_lab_demo_images_pull_by_digest(lab: Lab, registry: requests.Session) -> None:
    """Every demo tag's manifest, config and layers are served with correct sha256 digests."""
    catalog = registry.get(lab.url + "/v2/_catalog", timeout=10).json()["repositories"]
    assert "admin/alpine" in catalog
    for name in catalog:
        for tag in registry.get(f"{lab.url}/v2/{name}/tags/list", timeout=10).json()["tags"]:
            response = registry.get(
                f"{lab.url}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_V2}, timeout=10
            )
            digest = response.headers["Docker-Content-Digest"]
            assert sha256(response.content) == digest
            assert response.headers["Content-Type"] == MANIFEST_V2
            by_digest = registry.get(f"{lab.url}/v2/{name}/manifests/{digest}", timeout=10)
            assert by_digest.content == response.content
            manifest = response.json()
            for blob in [manifest["config"], *manifest["layers"]]:
                data = registry.get(
                    f"{lab.url}/v2/{name}/blobs/{blob['digest']}", timeout=10
                ).content
                assert sha256(data) == blob["digest"]
                assert len(data) == blob["size"]
            gzip.decompress(data)  # the last layer is a real gzip stream


def test_lab_push_and_pull_round_trip(
    lab: Lab, registry: requests.Session, api: requests.Session
) -> None:
    """Monolithic and chunked blob uploads, a schema2 manifest PUT, a pull by digest, and the
    DTR API listing the new repository and tag."""
    layer = gzip.compress(b"canary layer\n" * 100, mtime=0)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    base = f"{lab.url}/v2/canary/smoke"

    start = registry.post(base + "/blobs/uploads/", timeout=10)
    assert start.status_code == 202
    location = lab.url + start.headers["Location"]
    half = len(layer) // 2
    patch1 = registry.patch(
        location, data=layer[:half], headers={"Content-Range": f"0-{half - 1}"}, timeout=10
    )
    assert patch1.status_code == 202
    assert patch1.headers["Range"] == f"0-{half - 1}"
    patch2 = registry.patch(
        lab.url + patch1.headers["Location"], data=iter([layer[half:]]), timeout=10
    )
    assert patch2.status_code == 202
    done = registry.put(
        lab.url + patch2.headers["Location"], params={"digest": sha256(layer)}, timeout=10
    )
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == sha256(layer)

    mono = registry.post(
        base + "/blobs/uploads/", params={"digest": sha256(config)}, data=config, timeout=10
    )
    assert mono.status_code == 201
    assert registry.head(f"{base}/blobs/{sha256(config)}", timeout=10).status_code == 200

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": sha256(config)},
            "layers": [{"mediaType": LAYER_TAR_GZIP, "size": len(layer), "digest": sha256(layer)}],
        }
    ).encode()
    put = registry.put(
        base + "/manifests/v1", data=manifest, headers={"Content-Type": MANIFEST_V2}, timeout=10
    )
    assert put.status_code == 201
    digest = put.headers["Docker-Content-Digest"]
    assert digest == sha256(manifest)

    head = registry.head(f"{base}/manifests/v1", timeout=10)
    assert head.headers["Docker-Content-Digest"] == digest
    assert int(head.headers["Content-Length"]) == len(manifest)
    pulled = registry.get(f"{base}/manifests/{digest}", timeout=10)
    assert pulled.content == manifest
    assert registry.get(f"{base}/blobs/{sha256(layer)}", timeout=10).content == layer
    assert registry.get(base + "/tags/list", timeout=10).json() == {
        "name": "canary/smoke",
        "tags": ["v1"],
    }

    tags = api.get(lab.url + "/api/v0/repositories/canary/smoke/tags", timeout=10).json()
    assert [(t["name"], t["digest"]) for t in tags] == [("v1", digest)]
    assert tags[0]["manifest"]["configDigest"] == sha256(config)
    repos = api.get(lab.url + "/api/v0/repositories", params={"pageSize": 100}, timeout=10).json()[
        "repositories"
    ]
    assert "smoke" in {r["name"] for r in repos if r["namespace"] == "canary"}

    assert registry.delete(f"{base}/manifests/{digest}", timeout=10).status_code == 202
    assert registry.get(f"{base}/manifests/v1", timeout=10).status_code == 404
    assert registry.get(base + "/tags/list", timeout=10).json()["tags"] == []


def test_lab_registry_checks_digests(lab: Lab, registry: requests.Session) -> None:
    """A wrong digest is refused with 400 DIGEST_INVALID; a manifest naming a missing blob with
    MANIFEST_BLOB_UNKNOWN; schema v1 with MANIFEST_INVALID."""
    base = f"{lab.url}/v2/canary/digests"
    wrong = registry.post(
        base + "/blobs/uploads/", params={"digest": sha256(b"other")}, data=b"data", timeout=10
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    missing = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": 1, "digest": sha256(b"x")},
            "layers": [],
        }
    ).encode()
    put = registry.put(
        base + "/manifests/v1", data=missing, headers={"Content-Type": MANIFEST_V2}, timeout=10
    )
    assert put.status_code == 400
    assert put.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    v1 = registry.put(
        base + "/manifests/v1",
        data=b'{"schemaVersion": 1}',
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        timeout=10,
    )
    assert v1.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    wrong_ref = registry.put(
        base + "/manifests/" + sha256(b"nope"),
        data=missing,
        headers={"Content-Type": MANIFEST_V2},
        timeout=10,
    )
    assert wrong_ref.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert (
        registry.get(lab.url + "/v2/admin/alpine/manifests/nope", timeout=10).json()["errors"][0][
            "code"
        ]
        == "MANIFEST_UNKNOWN"
    )
    assert (
        registry.get(lab.url + "/v2/admin/nothing/tags/list", timeout=10).json()["errors"][0][
            "code"
        ]
        == "NAME_UNKNOWN"
    )


def test_lab_catalog_pages_with_link(make_lab: object) -> None:
    """_catalog?n= pages with a Link header, as distribution does."""
    lab = make_lab(repositories=7, tags_per_repo=1)  # type: ignore[operator]
    with session_for(lab) as session:
        token = session.get(lab.url + "/auth/token", timeout=10).json()["token"]
        session.auth = None
        session.headers["Authorization"] = f"Bearer {token}"
        seen: list[str] = []
        url = lab.url + "/v2/_catalog?n=3"
        for _ in range(5):
            response = session.get(url, timeout=10)
            seen += response.json()["repositories"]
            link = response.headers.get("Link")
            if not link:
                break
            url = lab.url + link.split(";")[0].strip("<>")
    assert len(seen) == 7
    assert seen == sorted(seen)
