"""The registry client: DTR's Docker Registry HTTP API V2 (`/v2/`) data plane.

Authentication works as the distribution project's clients do: a request answered 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` is followed by `GET realm` with the
DTR credentials as basic auth, which returns `{"token"}` (or `{"access_token"}`); the request is
then repeated with `Authorization: Bearer`. Tokens are cached per scope and registered with
the redactor. A `Basic` challenge is answered with basic auth directly.

Tokens are short-lived: the token answer's `expires_in` says for how many seconds, and without it
a token lives 60 s (distribution/distribution PR #979, fidelity-review.md 1; DTR's own lifetime
was not found, so the harness takes distribution's rule), while a rolling upgrade takes minutes.
So a token is renewed before it runs out (a little ahead of `expires_in`, measured on this
machine's monotonic clock from when the answer arrived, so no clock skew can matter), and again
whenever the registry answers 401 with a challenge.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from upgrade.clients.http import (
    REGISTRY,
    ServiceClient,
)
from upgrade.clients.json import JsonReader
from upgrade.clients.secrets import DTRCredentials
from upgrade.errors import HarnessError

__all__ = ["MANIFEST_MEDIA_TYPES", "Manifest", "RegistryClient", "sha256_digest"]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)
DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 10_000
MAX_BLOB_BYTES = 64 * 1024 * 1024

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[\w][\w.-]{0,127}")
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
# distribution's token spec: "When omitted, this defaults to 60 seconds" (fidelity-review.md 1)
DEFAULT_TOKEN_LIFETIME_S = 60.0
# renew this long before expiry, but never before half of the lifetime has gone
RENEW_AHEAD_S = 10.0
# a token fetch for the prober: one attempt, short timeouts, so a sample is never held long
QUICK_TIMEOUT = (1.0, 2.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its media type, its digest and its exact bytes."""

    media_type: str
    digest: str
    body: bytes


def sha256_digest(data: bytes) -> str:
    """The content digest of `data` as the registry writes it (`sha256:<hex>`)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Challenge:
    scheme: str
    params: dict[str, str]


@dataclass(frozen=True)
class _Token:
    """A bearer token, the challenge that asked for it, and when to renew it (monotonic)."""

    value: str
    challenge: _Challenge
    renew_at: float
    expires_at: float


def token_lifetime(value: object) -> float:
    """Seconds a token answer's `expires_in` gives; 60 when absent or not a positive number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return DEFAULT_TOKEN_LIFETIME_S
    return float(min(value, 86400))


class RegistryClient(ServiceClient[DTRCredentials]):
    """Client of DTR's `/v2/` API at `base_url`, with token auth and verified content."""

    service = REGISTRY

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._renewing = threading.Lock()
        self._tokens_by_scope: dict[str, _Token] = {}
        self._scope_of: dict[str, str] = {}
        self._basic: set[str] = set()
        self.clock: Callable[[], float] = time.monotonic

    def ping(self) -> str:
        """`GET /v2/` (authenticated); the `Docker-Distribution-API-Version` it reports."""
        response = self._call("GET", "/v2/", "")
        return response.headers.get("Docker-Distribution-API-Version", "registry/2.0")

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header `GET /v2/` needs, for probes: obtained on first use, renewed
        ahead of its expiry with one quick attempt (the old token serves while it is valid)."""
        if not self._auth_header("", quick=True):
            self.ping()
        return self._auth_header("", quick=True)

    def renew_auth(self) -> None:
        """Fetch a new token for `GET /v2/` now (one quick attempt): the prober's answer to 401.

        Raises `HarnessError` when the token service does not give one.
        """
        with self._lock:
            scope = self._scope_of.get("")
            token = self._tokens_by_scope.get(scope) if scope is not None else None
        if token is None:
            self.ping()
            return
        self._fetch_token(token.challenge, "", quick=True)

    def catalog(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> list[str]:
        """Every repository name (`GET /v2/_catalog`, following `Link` pages)."""
        names: list[str] = []
        for reader in self._pages("/v2/_catalog", "registry:catalog:*", page_size, max_pages):
            names += _strings(reader, "repositories")
        return names

    def tags(
        self, repo: str, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> list[str]:
        """The tags of `repo` (`GET /v2/<repo>/tags/list`, following `Link` pages)."""
        path = f"/v2/{_repo(repo)}/tags/list"
        tags: list[str] = []
        for reader in self._pages(path, _pull(repo), page_size, max_pages):
            tags += _strings(reader, "tags")
        return tags

    def manifest_digest(self, repo: str, reference: str) -> str:
        """The digest `reference` resolves to (`HEAD`, `Docker-Content-Digest`).

        Falls back to hashing the manifest when the registry does not send the header.
        """
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call("HEAD", path, _pull(repo), headers={"Accept": ACCEPT_MANIFESTS})
        digest = response.headers.get("Docker-Content-Digest", "")
        if digest:
            return digest
        return self.get_manifest(repo, reference).digest

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        """The manifest `reference` names, its bytes checked against its digest."""
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call("GET", path, _pull(repo), headers={"Accept": ACCEPT_MANIFESTS})
        body = response.content
        computed = sha256_digest(body)
        claimed = response.headers.get("Docker-Content-Digest", "")
        expected = reference if DIGEST.fullmatch(reference) else claimed
        if expected.startswith("sha256:") and expected != computed:
            raise self.http.bad_response(
                f"GET {path}", f"a manifest whose sha256 is {computed}, not {expected}", ""
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(media_type=media_type, digest=claimed or computed, body=body)

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """`PUT` a manifest under a tag or digest; returns its digest."""
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call(
            "PUT",
            path,
            _push(repo),
            data=body,
            headers={"Content-Type": media_type},
            expect=(201,),
        )
        return response.headers.get("Docker-Content-Digest", "") or sha256_digest(body)

    def delete_manifest(self, repo: str, digest: str) -> None:
        """`DELETE` a manifest by digest (which removes every tag pointing at it)."""
        if not DIGEST.fullmatch(digest):
            raise HarnessError(f"{digest!r} is not a digest; manifests are deleted by digest")
        path = f"/v2/{_repo(repo)}/manifests/{digest}"
        self._call("DELETE", path, _push(repo) + ",delete", expect=(202,))

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether the registry holds the blob `digest` for `repo` (`HEAD`, 200 or 404)."""
        path = f"/v2/{_repo(repo)}/blobs/{_digest(digest)}"
        response = self._call("HEAD", path, _pull(repo), expect=(200, 404))
        return response.status_code == 200

    def get_blob(self, repo: str, digest: str, *, max_bytes: int = MAX_BLOB_BYTES) -> bytes:
        """The blob `digest`, read up to `max_bytes` and checked against its sha256."""
        path = f"/v2/{_repo(repo)}/blobs/{_digest(digest)}"
        response = self._call("GET", path, _pull(repo), stream=True)
        with response:
            chunks = []
            size = 0
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise HarnessError(
                        f"blob {digest} of {repo} is larger than {max_bytes} bytes; "
                        "raise max_bytes to read it"
                    )
                chunks.append(chunk)
        data = b"".join(chunks)
        if digest.startswith("sha256:") and sha256_digest(data) != digest:
            raise self.http.bad_response(
                f"GET {path}", f"a blob whose sha256 is {sha256_digest(data)}", ""
            )
        return data

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload `data` as a blob of `repo` (monolithic `POST` then `PUT ?digest=`); its digest.

        Nothing is uploaded when the registry already holds the blob.
        """
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        response = self._call(
            "POST", f"/v2/{_repo(repo)}/blobs/uploads/", _push(repo), expect=(202,)
        )
        location = response.headers.get("Location", "")
        if not location:
            raise self.http.bad_response(
                f"POST /v2/{repo}/blobs/uploads/", "202 without a Location header", ""
            )
        separator = "&" if "?" in location else "?"
        self._call(
            "PUT",
            f"{location}{separator}digest={digest}",
            _push(repo),
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            expect=(201,),
            idempotent=False,
        )
        return digest

    def _pages(
        self, path: str, scope_key: str, page_size: int, max_pages: int
    ) -> Iterator[JsonReader]:
        url: str | None = path
        params: dict[str, int] | None = {"n": page_size}
        seen: set[str] = set()
        for _ in range(max_pages):
            assert url is not None
            response = self._call("GET", url, scope_key, params=params)
            yield self.http.json(response)
            link = response.links.get("next", {}).get("url")
            if not link:
                return
            if link in seen:
                raise self.http.bad_response(
                    f"GET {path}", f"the same next page twice ({link})", ""
                )
            seen.add(link)
            url, params = link, None
        raise HarnessError(
            f"registry listing {path} did not end within {max_pages} pages of {page_size}"
        )

    def _call(
        self,
        method: str,
        path: str,
        scope_key: str,
        *,
        expect: Collection[int] = (200,),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with the cached credentials for `scope_key`; on a challenge, authenticate once."""
        first = self.http.request(
            method,
            path,
            expect=(*expect, 401),
            headers={**(headers or {}), **self._auth_header(scope_key)},
            **kwargs,
        )
        if first.status_code != 401 or 401 in expect:
            return first
        challenge = _parse_challenge(first.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            error = self.http.status_error(first)
            first.close()
            raise error
        first.close()
        if challenge.scheme == "basic":
            with self._lock:
                self._basic.add(scope_key)
        else:
            self._fetch_token(challenge, scope_key)
        return self.http.request(
            method,
            path,
            expect=expect,
            headers={**(headers or {}), **self._auth_header(scope_key)},
            **kwargs,
        )

    def _auth_header(self, scope_key: str, *, quick: bool = False) -> dict[str, str]:
        """The header for `scope_key`; a token due for renewal is renewed first.

        One thread renews while others go on with the old token as long as it is valid. A
        renewal that fails while the old token is still valid is logged and the old token used.
        """
        with self._lock:
            if scope_key in self._basic:
                return {"Authorization": _basic_header(self.credentials)}
            scope = self._scope_of.get(scope_key)
            token = self._tokens_by_scope.get(scope) if scope is not None else None
        if token is None:
            return {}
        now = self.clock()
        if now >= token.renew_at:
            token = self._renewed(token, scope_key, now, quick=quick)
        return {"Authorization": f"Bearer {token.value}"}

    def _renewed(self, token: _Token, scope_key: str, now: float, *, quick: bool) -> _Token:
        valid = now < token.expires_at
        if not self._renewing.acquire(blocking=not valid):
            return token  # another thread renews; the old token is still valid
        try:
            with self._lock:
                current = self._tokens_by_scope.get(self._scope_of.get(scope_key, ""), token)
            if current is not token and self.clock() < current.renew_at:
                return current  # renewed meanwhile
            try:
                return self._fetch_token(token.challenge, scope_key, quick=quick)
            except HarnessError as error:
                if not valid or self.clock() >= token.expires_at:
                    raise
                log.warning(
                    "renewing the registry token failed (%s); the current one is still valid", error
                )
                return token
        finally:
            self._renewing.release()

    def _fetch_token(self, challenge: _Challenge, scope_key: str, *, quick: bool = False) -> _Token:
        realm = challenge.params.get("realm", "")
        self._check_realm(realm)
        scope = challenge.params.get("scope", "")
        params: dict[str, str | list[str]] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        if scope:
            params["scope"] = scope.split(" ")
        extra: dict[str, Any] = {"idempotent": False, "timeout": QUICK_TIMEOUT} if quick else {}
        response = self.http.request(
            "GET",
            realm,
            params=params,
            auth=(self.credentials.username, self.credentials.secret),
            **extra,
        )
        received = self.clock()
        reader = self.http.json(response)
        obj = reader.object()
        value = obj.get("token") or obj.get("access_token")
        if not isinstance(value, str) or not value:
            raise reader.fail("no token")
        self.http.redactor.add(value)
        lifetime = token_lifetime(obj.get("expires_in"))
        token = _Token(
            value=value,
            challenge=challenge,
            renew_at=received + max(lifetime / 2, lifetime - RENEW_AHEAD_S),
            expires_at=received + lifetime,
        )
        with self._lock:
            self._tokens_by_scope[scope] = token
            self._scope_of[scope_key] = scope
        return token

    def _check_realm(self, realm: str) -> None:
        """Send the credentials only over HTTPS, or to the registry's own origin."""
        parts = urlsplit(realm)
        base = urlsplit(self.base_url)
        same_origin = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        if not parts.hostname or (parts.scheme != "https" and not same_origin):
            raise HarnessError(
                f"the registry at {self.base_url} asks for credentials at {realm!r}, which is "
                "not an HTTPS URL; refusing to send DTR_USERNAME's secret there"
            )


def _parse_challenge(header: str) -> _Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _CHALLENGE_PARAM.finditer(rest)
    }
    if scheme == "bearer" and not params.get("realm"):
        return None
    return _Challenge(scheme, params)


def _basic_header(credentials: DTRCredentials) -> str:
    pair = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _strings(reader: JsonReader, key: str) -> list[str]:
    values = reader.get(key, list, default=[])
    if not all(isinstance(value, str) for value in values):
        raise reader.fail(f"{key!r} holding something other than names")
    return list(values)


def _repo(repo: str) -> str:
    if not REPOSITORY_NAME.fullmatch(repo):
        raise HarnessError(f"{repo!r} is not a repository name; use NAMESPACE/REPO in lower case")
    return repo


def _reference(reference: str) -> str:
    if not (TAG.fullmatch(reference) or DIGEST.fullmatch(reference)):
        raise HarnessError(f"{reference!r} is neither a tag nor a digest")
    return reference


def _digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise HarnessError(f"{digest!r} is not a digest (ALGORITHM:HEX)")
    return digest


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"
