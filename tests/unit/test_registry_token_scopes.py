"""Pull tokens fetched ahead for many repositories at once (`RegistryClient.authorize_pull`).

distribution's token spec lets a token request name several scopes ("should be specified
multiple times"), and lets the server grant only a subset without an error; a JWT's `access`
claim says which. A repository not granted must get its own token, not fail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.support.servers import PASSWORD, FakeServer, Reply, Seen
from upgrade.clients.registry import RegistryClient
from upgrade.clients.registry_auth import MAX_SCOPES_PER_TOKEN
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor

DIGEST = "sha256:" + "ab" * 32


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.c2lnbmF0dXJl"


class ScopedTokens:
    """A token server granting only the repositories in `refused`'s complement, and a registry
    whose blob HEADs accept a token only for the repositories it grants."""

    def __init__(self, server: FakeServer, *, jwt: bool, refused: set[str]) -> None:
        self.server = server
        self.jwt = jwt
        self.refused = refused
        self.grants: dict[str, set[str]] = {}
        server.route("GET", "/auth/token", self.token)

    def token(self, seen: Seen) -> Reply:
        expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        assert seen.headers.get("authorization") == f"Basic {expected}"
        names = {scope.split(":")[1] for scope in seen.query.get("scope", [])}
        granted = names - self.refused if len(names) > 1 else names
        access = [{"type": "repository", "name": n, "actions": ["pull"]} for n in sorted(granted)]
        n = len(self.grants)
        token = _jwt({"n": n, "access": access}) if self.jwt else f"opaque-token-{n:04d}"
        self.grants[token] = granted
        return Reply(200, {"token": token, "expires_in": 300})

    def serve(self, repo: str) -> None:
        def head(seen: Seen) -> Reply:
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            if repo not in self.grants.get(token, set()):
                challenge = (
                    f'Bearer realm="{self.server.url}/auth/token",service="dtr.example.com",'
                    f'scope="repository:{repo}:pull"'
                )
                return Reply(
                    401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge}
                )
            return Reply(200, b"")

        self.server.route("HEAD", f"/v2/{repo}/blobs/{DIGEST}", head)

    def scopes_asked(self) -> list[list[str]]:
        return [seen.query.get("scope", []) for seen in self.server.seen("GET", "/auth/token")]


@pytest.fixture
def registry(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, retry: RetryPolicy
) -> Iterator[RegistryClient]:
    with RegistryClient(
        server.url, dtr_credentials, verify=ca_path, retry=retry, redactor=Redactor()
    ) as client:
        yield client


REPOS = [f"ns/repo{i}" for i in range(5)]


def _serve(tokens: ScopedTokens) -> None:
    for repo in REPOS:
        tokens.serve(repo)


@pytest.mark.parametrize("jwt", [True, False], ids=["jwt", "opaque"])
def test_one_token_request_covers_many_repositories(
    server: FakeServer, registry: RegistryClient, jwt: bool
) -> None:
    tokens = ScopedTokens(server, jwt=jwt, refused=set())
    _serve(tokens)
    assert registry.blob_status(REPOS[0], DIGEST) == 200  # the challenge names the realm
    registry.authorize_pull(REPOS[1:])
    for repo in REPOS:
        assert registry.blob_status(repo, DIGEST) == 200
    assert tokens.scopes_asked() == [
        ["repository:ns/repo0:pull"],
        [f"repository:{repo}:pull" for repo in REPOS[1:]],
    ]
    assert len(server.seen("GET", "/auth/token")) == 2


def test_a_repository_the_jwt_does_not_grant_asks_for_its_own_token(
    server: FakeServer, registry: RegistryClient
) -> None:
    tokens = ScopedTokens(server, jwt=True, refused={"ns/repo2"})
    _serve(tokens)
    assert registry.blob_status(REPOS[0], DIGEST) == 200
    registry.authorize_pull(REPOS[1:])
    for repo in REPOS:
        assert registry.blob_status(repo, DIGEST) == 200
    asked = tokens.scopes_asked()
    assert asked[2:] == [["repository:ns/repo2:pull"]], "fetched ahead alone, no 401 first"
    assert len(server.seen("HEAD", f"/v2/ns/repo2/blobs/{DIGEST}")) == 1


def test_an_opaque_token_refused_for_a_repository_falls_back_to_one_scope(
    server: FakeServer, registry: RegistryClient
) -> None:
    """A token that does not say what it grants is tried; the registry's 401 for a repository
    it does not cover gets that repository a token of its own, and the read succeeds."""
    tokens = ScopedTokens(server, jwt=False, refused={"ns/repo3"})
    _serve(tokens)
    assert registry.blob_status(REPOS[0], DIGEST) == 200
    registry.authorize_pull(REPOS[1:])
    for repo in REPOS:
        assert registry.blob_status(repo, DIGEST) == 200
    assert tokens.scopes_asked()[2:] == [["repository:ns/repo3:pull"]]
    assert len(server.seen("HEAD", f"/v2/ns/repo3/blobs/{DIGEST}")) == 2


def test_scopes_are_asked_in_bounded_batches(server: FakeServer, registry: RegistryClient) -> None:
    many = [f"ns/r{i:03d}" for i in range(2 * MAX_SCOPES_PER_TOKEN + 3)]
    tokens = ScopedTokens(server, jwt=True, refused=set())
    tokens.serve(many[0])
    assert registry.blob_status(many[0], DIGEST) == 200
    registry.authorize_pull(many)
    assert [len(scopes) for scopes in tokens.scopes_asked()] == [
        1,
        MAX_SCOPES_PER_TOKEN,
        MAX_SCOPES_PER_TOKEN,
        2,
    ]
    registry.authorize_pull(many)
    assert len(tokens.scopes_asked()) == 4, "repositories with a token are not asked again"


def test_nothing_is_fetched_ahead_before_a_challenge_names_the_realm(
    server: FakeServer, registry: RegistryClient
) -> None:
    ScopedTokens(server, jwt=True, refused=set())
    registry.authorize_pull(REPOS)
    assert server.seen("GET", "/auth/token") == []
