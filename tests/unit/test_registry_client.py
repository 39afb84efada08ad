"""The registry client: the token dance, paging, digests and a blob/manifest round trip."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest

from tests.support.servers import PASSWORD, FakeServer, Reply, Seen
from upgrade.clients.errors import AuthenticationFailed, BadResponse
from upgrade.clients.registry import MANIFEST_MEDIA_TYPES, RegistryClient, sha256_digest
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor
from upgrade.errors import HarnessError

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"


class TokenRegistry:
    """A registry that demands bearer tokens from its realm, one per scope."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.issued: dict[str, str] = {}
        server.route("GET", "/auth/token", self.token)

    def token(self, seen: Seen) -> Reply:
        expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        if seen.headers.get("authorization") != f"Basic {expected}":
            return Reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad creds"}]})
        assert seen.query["service"] == ["dtr.example.com"]
        scope = " ".join(seen.query.get("scope", []))
        token = f"token-{len(self.issued)}-{abs(hash(scope)) % 10**8}"
        self.issued[token] = scope
        return Reply(200, {"token": token})

    def protect(
        self, scope: str, reply: Callable[[Seen], Reply] | Reply
    ) -> Callable[[Seen], Reply]:
        def handler(seen: Seen) -> Reply:
            header = seen.headers.get("authorization", "")
            token = header.removeprefix("Bearer ")
            if self.issued.get(token) != scope:
                challenge = (
                    f'Bearer realm="{self.server.url}/auth/token",service="dtr.example.com"'
                    + (f',scope="{scope}"' if scope else "")
                )
                return Reply(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                    {"WWW-Authenticate": challenge},
                )
            return reply(seen) if callable(reply) else reply

        return handler


@pytest.fixture
def registry_server(server: FakeServer) -> TokenRegistry:
    return TokenRegistry(server)


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def registry(
    server: FakeServer,
    ca_path: str,
    dtr_credentials: DTRCredentials,
    retry: RetryPolicy,
    redactor: Redactor,
) -> Iterator[RegistryClient]:
    with RegistryClient(
        server.url, dtr_credentials, verify=ca_path, retry=retry, redactor=redactor
    ) as client:
        yield client


def test_ping_does_the_token_dance(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient, redactor: Redactor
) -> None:
    server.route(
        "GET",
        "/v2/",
        registry_server.protect(
            "", Reply(200, {}, {"Docker-Distribution-API-Version": "registry/2.0"})
        ),
    )
    assert registry.ping() == "registry/2.0"
    assert registry.ping() == "registry/2.0"
    assert len(server.seen("GET", "/auth/token")) == 1, "the token is cached"
    [token] = registry_server.issued
    assert redactor.redact(token) == "****"


def test_tokens_are_cached_per_scope(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    for repo in ("ns/a", "ns/b"):
        server.route(
            "GET",
            f"/v2/{repo}/tags/list",
            registry_server.protect(
                f"repository:{repo}:pull", Reply(200, {"name": repo, "tags": ["1", "2"]})
            ),
        )
    assert registry.tags("ns/a") == ["1", "2"]
    assert registry.tags("ns/b") == ["1", "2"]
    assert registry.tags("ns/a") == ["1", "2"]
    scopes = [r.query["scope"] for r in server.seen("GET", "/auth/token")]
    assert scopes == [["repository:ns/a:pull"], ["repository:ns/b:pull"]]


def test_an_expired_token_is_replaced(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    server.route(
        "GET",
        "/v2/ns/a/tags/list",
        registry_server.protect("repository:ns/a:pull", Reply(200, {"tags": ["1"]})),
    )
    assert registry.tags("ns/a") == ["1"]
    registry_server.issued.clear()
    assert registry.tags("ns/a") == ["1"]
    assert len(server.seen("GET", "/auth/token")) == 2


def test_wrong_credentials_at_the_realm(
    server: FakeServer, registry_server: TokenRegistry, ca_path: str, retry: RetryPolicy
) -> None:
    server.route("GET", "/v2/", registry_server.protect("", Reply(200, {})))
    credentials = DTRCredentials.of("admin", token="not-the-token-123")
    with (
        RegistryClient(server.url, credentials, verify=ca_path, retry=retry) as registry,
        pytest.raises(AuthenticationFailed) as info,
    ):
        registry.ping()
    assert str(info.value) == (
        "DTR registry rejected the credentials of DTR_USERNAME=admin with DTR_TOKEN "
        "(401: UNAUTHORIZED bad creds); check DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN"
    )
    assert "not-the-token-123" not in str(info.value)


def test_basic_challenge_is_answered_with_basic_auth(
    server: FakeServer, registry: RegistryClient
) -> None:
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()

    def basic(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != expected:
            return Reply(401, "", {"WWW-Authenticate": 'Basic realm="registry"'})
        return Reply(200, {})

    server.route("GET", "/v2/", basic)
    assert registry.ping() == "registry/2.0"


def test_an_http_realm_on_another_host_is_refused(
    server: FakeServer, registry: RegistryClient
) -> None:
    challenge = 'Bearer realm="http://evil.example.com/token",service="x"'
    server.route("GET", "/v2/", Reply(401, "", {"WWW-Authenticate": challenge}))
    with pytest.raises(HarnessError, match="refusing to send DTR_USERNAME's secret there"):
        registry.ping()


def test_catalog_follows_link_pages(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    names = [f"ns/repo{n}" for n in range(7)]

    def page(seen: Seen) -> Reply:
        size = int(seen.query["n"][0])
        last = seen.query.get("last", [""])[0]
        start = names.index(last) + 1 if last else 0
        chunk = names[start : start + size]
        headers = {}
        if start + size < len(names):
            headers["Link"] = f'</v2/_catalog?last={chunk[-1]}&n={size}>; rel="next"'
        return Reply(200, {"repositories": chunk}, headers)

    server.route("GET", "/v2/_catalog", registry_server.protect("registry:catalog:*", page))
    assert registry.catalog(page_size=3) == names
    assert len(server.seen("GET", "/auth/token")) == 1


def test_manifest_round_trip(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    layer = b"layer bytes"
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    blobs: dict[str, bytes] = {}
    manifests: dict[str, bytes] = {}
    pull, push = "repository:ns/canary:pull", "repository:ns/canary:pull,push"

    def head_blob(seen: Seen) -> Reply:
        digest = seen.path.rsplit("/", 1)[1]
        return Reply(200 if digest in blobs else 404, "")

    def start_upload(seen: Seen) -> Reply:
        return Reply(202, "", {"Location": "/v2/ns/canary/blobs/uploads/u1?_state=abc"})

    def finish_upload(seen: Seen) -> Reply:
        assert seen.query["_state"] == ["abc"]
        digest = seen.query["digest"][0]
        assert sha256_digest(seen.body) == digest
        blobs[digest] = seen.body
        return Reply(201, "", {"Docker-Content-Digest": digest})

    def put_manifest(seen: Seen) -> Reply:
        assert seen.headers["content-type"] == SCHEMA2
        digest = sha256_digest(seen.body)
        manifests["latest"] = manifests[digest] = seen.body
        return Reply(201, "", {"Docker-Content-Digest": digest})

    def get_manifest(seen: Seen) -> Reply:
        assert seen.headers["accept"].split(", ") == list(MANIFEST_MEDIA_TYPES)
        body = manifests[seen.path.rsplit("/", 1)[1]]
        headers = {"Docker-Content-Digest": sha256_digest(body), "Content-Type": SCHEMA2}
        return Reply(200, body, headers)

    for digest_of in (layer, config):
        path = f"/v2/ns/canary/blobs/{sha256_digest(digest_of)}"
        server.route("HEAD", path, registry_server.protect(pull, head_blob))
        server.route(
            "GET", path, registry_server.protect(pull, lambda s: Reply(200, blobs[s.path[-71:]]))
        )
    server.route(
        "POST", "/v2/ns/canary/blobs/uploads/", registry_server.protect(push, start_upload)
    )
    server.route(
        "PUT", "/v2/ns/canary/blobs/uploads/u1", registry_server.protect(push, finish_upload)
    )
    assert registry.push_blob("ns/canary", layer) == sha256_digest(layer)
    assert registry.push_blob("ns/canary", config) == sha256_digest(config)
    assert registry.push_blob("ns/canary", layer) == sha256_digest(layer)
    assert len(server.seen("PUT", "/v2/ns/canary/blobs/uploads/u1")) == 2, "no re-upload"
    assert registry.blob_exists("ns/canary", sha256_digest(layer))
    assert registry.get_blob("ns/canary", sha256_digest(layer)) == layer

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {"digest": sha256_digest(config), "size": len(config)},
            "layers": [{"digest": sha256_digest(layer), "size": len(layer)}],
        }
    ).encode()
    digest = sha256_digest(manifest)
    for reference in ("latest", digest):
        path = f"/v2/ns/canary/manifests/{reference}"
        server.route("PUT", path, registry_server.protect(push, put_manifest))
        server.route("GET", path, registry_server.protect(pull, get_manifest))
        server.route("HEAD", path, registry_server.protect(pull, get_manifest))
    server.route(
        "DELETE",
        f"/v2/ns/canary/manifests/{digest}",
        registry_server.protect(f"{push},delete", Reply(202, "")),
    )
    assert registry.put_manifest("ns/canary", "latest", manifest, SCHEMA2) == digest
    assert registry.manifest_digest("ns/canary", "latest") == digest
    fetched = registry.get_manifest("ns/canary", digest)
    assert (fetched.digest, fetched.body, fetched.media_type) == (digest, manifest, SCHEMA2)
    registry.delete_manifest("ns/canary", digest)


def test_a_blob_with_the_wrong_content_is_rejected(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    digest = sha256_digest(b"expected")
    server.route(
        "GET",
        f"/v2/ns/a/blobs/{digest}",
        registry_server.protect("repository:ns/a:pull", Reply(200, b"tampered")),
    )
    with pytest.raises(BadResponse, match="a blob whose sha256 is sha256:"):
        registry.get_blob("ns/a", digest)


def test_a_manifest_with_the_wrong_content_is_rejected(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    claimed = sha256_digest(b"other")
    server.route(
        "GET",
        "/v2/ns/a/manifests/v1",
        registry_server.protect(
            "repository:ns/a:pull", Reply(200, b"{}", {"Docker-Content-Digest": claimed})
        ),
    )
    with pytest.raises(BadResponse, match=f"not {claimed}"):
        registry.get_manifest("ns/a", "v1")


@pytest.mark.parametrize(
    ("repo", "reference"),
    [("NS/Upper", "latest"), ("ns/a", "bad tag"), ("../x", "latest"), ("ns/a", "")],
)
def test_bad_names_are_refused_before_any_request(
    server: FakeServer, registry: RegistryClient, repo: str, reference: str
) -> None:
    with pytest.raises(HarnessError, match=r"is not a repository name|neither a tag nor a digest"):
        registry.manifest_digest(repo, reference)
    assert server.requests == []


def test_auth_headers_for_probes_fetch_the_token_once(
    server: FakeServer, registry_server: TokenRegistry, registry: RegistryClient
) -> None:
    server.route("GET", "/v2/", registry_server.protect("", Reply(200, {})))
    first = registry.auth_headers()
    assert first["Authorization"].removeprefix("Bearer ") in registry_server.issued
    assert registry.auth_headers() == first
    assert len(server.seen("GET", "/auth/token")) == 1
