"""The UCP (MKE) API client: login, health, version, CA and the content-trust setting.

UCP takes `UCP_USERNAME` / `UCP_PASSWORD` at `POST /auth/login` and answers with a bearer
token (`auth_token`) that every other call sends; the token is registered with the redactor.
"""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from typing import Any

import requests

from upgrade.clients.errors import AuthenticationFailed
from upgrade.clients.http import (
    UCP,
    Ping,
    ServiceClient,
)
from upgrade.clients.secrets import UCPCredentials

__all__ = ["ContentTrust", "Ping", "UCPClient"]

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class ContentTrust:
    """UCP's `[trust_configuration]`: whether only signed images may run, and by whom."""

    required: bool
    signers: tuple[str, ...]


class UCPClient(ServiceClient[UCPCredentials]):
    """Client of one UCP cluster's API at `base_url`; logs in on first use, again once on 401."""

    service = UCP
    default_pool_size = 4

    def _setup(self) -> None:
        self._token: str | None = None
        self._lock = threading.Lock()

    def login(self) -> None:
        """`POST /auth/login`; keeps the `auth_token` for the following calls.

        Retried like an idempotent call: logging in twice only issues a second token.
        """
        response = self.http.request(
            "POST",
            "/auth/login",
            json={"username": self.credentials.username, "password": self.credentials.secret},
            idempotent=True,
        )
        reader = self.http.json(response)
        token = reader.get("auth_token", str)
        if not token:
            raise reader.fail("an empty auth_token")
        self.http.redactor.add(token)
        with self._lock:
            self._token = token

    def _authorized(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        with self._lock:
            token = self._token
        if token is None:
            self.login()
        extra = dict(kwargs.pop("headers", {}))
        for attempt in (1, 2):
            with self._lock:
                headers = {**extra, "Authorization": f"Bearer {self._token}"}
            try:
                return self.http.request(method, path, headers=headers, **kwargs)
            except AuthenticationFailed:
                # An expired token: log in again once; a second 401 is the credentials' fault.
                if attempt == 2:
                    raise
                self.login()
        raise AssertionError("unreachable")

    def ping(self) -> Ping:
        """`GET /_ping` (no auth): 200 is healthy; another status is a result with its body."""
        response = self.http.request("GET", "/_ping", expect=range(200, 600))
        healthy = response.status_code == 200
        return Ping(
            healthy=healthy,
            error="" if healthy else self.http.excerpt(response.text),
            status=response.status_code,
        )

    def version(self) -> str:
        """UCP's version from `GET /version` (`"Version": "ucp/3.1.6"` gives `3.1.6`)."""
        response = self._authorized("GET", "/version")
        reader = self.http.json(response)
        version = reader.get("Version", str).strip()
        version = version.removeprefix("ucp/").removeprefix("mke/")
        if not version:
            raise reader.fail("an empty Version")
        return version

    def config_toml(self) -> str:
        """UCP's configuration file, from `GET /api/ucp/config-toml`."""
        response = self._authorized(
            "GET", "/api/ucp/config-toml", headers={"Accept": "application/toml"}
        )
        return response.text

    def content_trust(self) -> ContentTrust:
        """`[trust_configuration]` of the configuration; `require_content_trust` absent = off."""
        text = self.config_toml()
        endpoint = "GET /api/ucp/config-toml"
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise self.http.bad_response(endpoint, f"invalid TOML ({error})", text) from None
        section = config.get("trust_configuration", {})
        if not isinstance(section, dict):
            raise self.http.bad_response(
                endpoint, "a trust_configuration that is not a table", text
            )
        required = section.get("require_content_trust", False)
        signers = section.get("require_signature_from", [])
        if not isinstance(required, bool):
            raise self.http.bad_response(
                endpoint, "a require_content_trust that is not a boolean", text
            )
        if not isinstance(signers, list) or not all(isinstance(s, str) for s in signers):
            raise self.http.bad_response(
                endpoint, "a require_signature_from that is not a list of names", text
            )
        return ContentTrust(required=required, signers=tuple(signers))

    def ca(self) -> str:
        """UCP's CA certificate (PEM) from `GET /ca`, as `--ucp-ca` takes it."""
        response = self.http.request("GET", "/ca")
        text = response.text
        if PEM_CERTIFICATE not in text:
            raise self.http.bad_response("GET /ca", "no PEM certificate", text)
        return text
