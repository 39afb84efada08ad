"""Token authentication for the registry's `/v2/` API, as the distribution project's clients do it.

A request answered 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` is followed
by `GET realm` with the DTR credentials as basic auth, which returns `{"token"}` (or
`{"access_token"}`); the request is then repeated with `Authorization: Bearer`. Tokens are cached
per scope and registered with the redactor. A `Basic` challenge is answered with basic auth
directly.

Tokens are short-lived: the token answer's `expires_in` says for how many seconds, and without it
a token lives 60 s (distribution/distribution PR #979, fidelity-review.md 1; DTR's own lifetime
was not found, so the harness takes distribution's rule), while a rolling upgrade takes minutes.
So a token is renewed before it runs out (a little ahead of `expires_in`, measured on this
machine's monotonic clock from when the answer arrived, so no clock skew can matter), and again
whenever the registry answers 401 with a challenge.

A caller about to read many repositories (the data proof) asks for their pull tokens together
(`authorize_pull`): the token spec's `scope` parameter "should be specified multiple times if
there is more than one scope entry" (distribution's docs/spec/auth/token.md, "Requesting a
Token"; docs.docker.com/registry/spec/auth/token), so one token request covers up to
`MAX_SCOPES_PER_TOKEN` repositories. The server may grant only a subset ("If the client only has
a subset of the requested access it must not be considered an error"): a JWT's `access` claim
(docs/spec/auth/jwt.md) says which, and a repository it does not grant asks for its own token,
as does any repository whose request is still answered 401.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from upgrade.clients.http import ServiceClient
from upgrade.clients.secrets import DTRCredentials
from upgrade.errors import HarnessError

__all__ = ["DEFAULT_TOKEN_LIFETIME_S", "TokenAuthClient", "token_lifetime"]

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
# distribution's token spec: "When omitted, this defaults to 60 seconds" (fidelity-review.md 1)
DEFAULT_TOKEN_LIFETIME_S = 60.0
# renew this long before expiry, but never before half of the lifetime has gone
RENEW_AHEAD_S = 10.0
# a token fetch for the prober: one attempt, short timeouts, so a sample is never held long
QUICK_TIMEOUT = (1.0, 2.0)
# repositories asked for in one token request: keeps its URL and a JWT listing every grant a
# few kilobytes, well inside the 8 KB a proxy in front of the registry takes for a header
MAX_SCOPES_PER_TOKEN = 20

log = logging.getLogger(__name__)


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


class TokenAuthClient(ServiceClient[DTRCredentials]):
    """A `/v2/` client whose every call authenticates as the registry's challenge asks."""

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._renewing = threading.Lock()
        self._tokens_by_scope: dict[str, _Token] = {}
        self._scope_of: dict[str, str] = {}
        self._basic: set[str] = set()
        self._bearer_realm: _Challenge | None = None
        self.clock: Callable[[], float] = time.monotonic

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header `GET /v2/` needs, for probes: obtained on first use, renewed
        ahead of its expiry with one quick attempt (the old token serves while it is valid)."""
        if not self._auth_header("", quick=True):
            self._call("GET", "/v2/", "")
        return self._auth_header("", quick=True)

    def renew_auth(self) -> None:
        """Fetch a new token for `GET /v2/` now (one quick attempt): the prober's answer to 401.

        Raises `HarnessError` when the token service does not give one.
        """
        with self._lock:
            scope = self._scope_of.get("")
            token = self._tokens_by_scope.get(scope) if scope is not None else None
        if token is None:
            self._call("GET", "/v2/", "")
            return
        self._fetch_token(token.challenge, "", quick=True)

    def authorize_pull(self, repositories: Sequence[str]) -> None:
        """Fetch pull tokens for `repositories` ahead, several scopes per token request.

        Only once a challenge has named the token realm; repositories that already have a
        token are skipped. Nothing raises: a repository left without a token (the request
        failed, or the answer did not grant it) gets its own token when it is first read.
        """
        keys = [_pull_scope(repo) for repo in dict.fromkeys(repositories)]
        with self._lock:
            realm = self._bearer_realm
            wanted = [k for k in keys if k not in self._scope_of and k not in self._basic]
        if realm is None or len(wanted) < 2:
            return
        for start in range(0, len(wanted), MAX_SCOPES_PER_TOKEN):
            batch = wanted[start : start + MAX_SCOPES_PER_TOKEN]
            challenge = _Challenge("bearer", {**realm.params, "scope": " ".join(batch)})
            try:
                self._fetch_token(challenge, batch[0], granted_keys=batch)
            except HarnessError as error:
                log.info("no token ahead for %d repositories (%s)", len(batch), error)
                return

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
        """Send with the cached credentials for `scope_key`; on a challenge, authenticate once.

        A repository scope not seen before gets its token straight from the realm an earlier
        challenge named, as docker's client does after its `/v2/` ping, instead of a 401 first.
        """
        self._token_ahead(scope_key)
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

    def _token_ahead(self, scope_key: str) -> None:
        if not scope_key.startswith("repository:"):
            return
        with self._lock:
            known = scope_key in self._scope_of or scope_key in self._basic
            realm = self._bearer_realm
        if known or realm is None:
            return
        try:
            self._fetch_token(_Challenge("bearer", {**realm.params, "scope": scope_key}), scope_key)
        except HarnessError as error:
            log.info("no token ahead for %s (%s); asking the registry", scope_key, error)

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

    def _fetch_token(
        self,
        challenge: _Challenge,
        scope_key: str,
        *,
        quick: bool = False,
        granted_keys: Sequence[str] = (),
    ) -> _Token:
        """Get a token for `challenge` and cache it for `scope_key`, and for those of
        `granted_keys` (scopes of the same request) that the answer grants."""
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
        self.http.redactor.add_token(value)
        lifetime = token_lifetime(obj.get("expires_in"))
        token = _Token(
            value=value,
            challenge=challenge,
            renew_at=received + max(lifetime / 2, lifetime - RENEW_AHEAD_S),
            expires_at=received + lifetime,
        )
        keys = [scope_key]
        if granted_keys:
            keys = [key for key in granted_keys if _grants(value, key)]
        with self._lock:
            self._tokens_by_scope[scope] = token
            for key in keys:
                self._scope_of[key] = scope
            where = {k: v for k, v in challenge.params.items() if k in ("realm", "service")}
            self._bearer_realm = _Challenge("bearer", where)
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


def _pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _grants(token: str, scope: str) -> bool:
    """Whether `token` grants `scope` (`repository:NAME:ACTIONS`): as its JWT `access` claim
    says (distribution's docs/spec/auth/jwt.md); a token that is no JWT, or has no such claim,
    is taken to grant it, and a 401 to a request made with it asks again for that scope alone."""
    parts = token.split(".")
    if len(parts) != 3:
        return True
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return True
    access = claims.get("access") if isinstance(claims, dict) else None
    if not isinstance(access, list):
        return True
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    for entry in access:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") != kind or entry.get("name") != name:
            continue
        allowed = entry.get("actions")
        if isinstance(allowed, list) and set(actions.split(",")) <= set(allowed):
            return True
    return False


def _basic_header(credentials: DTRCredentials) -> str:
    pair = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")
