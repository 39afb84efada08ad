"""The UCP (MKE) API client: login, health, version, CA, its configuration's content-trust and
scheduling settings, and its node list.

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
from upgrade.clients.json import JsonReader
from upgrade.clients.secrets import UCPCredentials

__all__ = ["AdminScheduling", "ContentTrust", "Ping", "UCPClient", "UCPNode"]

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
CONFIG_ENDPOINT = "GET /api/ucp/config-toml"
UNSPECIFIED = ("0.0.0.0", "::")  # noqa: S104 (an address read from an answer, nothing binds)


@dataclass(frozen=True)
class ContentTrust:
    """UCP's `[trust_configuration]`: whether only signed images may run, by whom, and which
    repositories bypass the check.

    `allow_repos` is MKE's "string array that specifies repos that are to bypass content trust
    check, for example `["docker.io/mirantis/dtr-rethink", "docker.io/mirantis/dtr-registry"
    ...]`" (MKE configuration options, trust_configuration table; fidelity-review.md 6); the
    UCP 3.x page (docker/docs ee/ucp/admin/configure/ucp-configuration-file.md) lists only
    `require_content_trust` and `require_signature_from`, so it is absent there.
    """

    required: bool
    signers: tuple[str, ...]
    allow_repos: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdminScheduling:
    """UCP's `[scheduling_configuration] enable_admin_ucp_scheduling`: "Set to `true` to allow
    admins to schedule on containers on manager nodes. The default is `false`" (docker/docs
    ee/ucp/admin/configure/ucp-configuration-file.md, scheduling_configuration table), the UI's
    "Allow administrators to deploy containers on UCP managers or nodes running DTR"
    (docs.mirantis.com MKE 3.4 "Restrict services to worker nodes"). `configured` is False when
    the key is absent, and `enabled` is then the documented default."""

    enabled: bool
    configured: bool


@dataclass(frozen=True)
class UCPNode:
    """One node of UCP's node list (`GET /nodes`, Docker's `swarm.Node`, as thebsdbox/diver
    pkg/ucp/ucpNodes.go reads it): its hostname (`Description.Hostname`, the UCP node name
    DTR's `replicaSettings.node` holds), its address (`Status.Addr`, "IP address of the node",
    Docker Engine API `NodeStatus`; empty when unknown) and its role (`Spec.Role`)."""

    node_id: str
    hostname: str
    addr: str
    role: str


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _node(reader: JsonReader) -> UCPNode:
    description = reader.child(reader.get("Description", dict, default={}), "Description")
    status = reader.child(reader.get("Status", dict, default={}), "Status")
    spec = reader.child(reader.get("Spec", dict, default={}), "Spec")
    addr = status.get("Addr", str, default="").strip()
    if addr in UNSPECIFIED:
        # A manager's Status.Addr may be unspecified; its ManagerStatus.Addr is "IP:2377".
        manager = reader.get("ManagerStatus", dict, default={})
        manager_addr = manager.get("Addr") if isinstance(manager, dict) else None
        addr = manager_addr.rsplit(":", 1)[0] if isinstance(manager_addr, str) else ""
    return UCPNode(
        node_id=reader.get("ID", str, default=""),
        hostname=description.get("Hostname", str, default=""),
        addr=addr.strip("[]"),
        role=spec.get("Role", str, default=""),
    )


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

    def _config_table(self, name: str) -> tuple[dict[str, Any], str]:
        """One table of the configuration file (empty when absent) and the file's text."""
        text = self.config_toml()
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise self.http.bad_response(CONFIG_ENDPOINT, f"invalid TOML ({error})", text) from None
        section = config.get(name, {})
        if not isinstance(section, dict):
            raise self.http.bad_response(
                CONFIG_ENDPOINT, f"{_article(name)} {name} that is not a table", text
            )
        return section, text

    def _names(self, section: dict[str, Any], key: str, text: str) -> tuple[str, ...]:
        values = section.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.http.bad_response(
                CONFIG_ENDPOINT, f"{_article(key)} {key} that is not a list of names", text
            )
        return tuple(values)

    def content_trust(self) -> ContentTrust:
        """`[trust_configuration]` of the configuration; `require_content_trust` absent = off."""
        section, text = self._config_table("trust_configuration")
        required = section.get("require_content_trust", False)
        if not isinstance(required, bool):
            raise self.http.bad_response(
                CONFIG_ENDPOINT, "a require_content_trust that is not a boolean", text
            )
        return ContentTrust(
            required=required,
            signers=self._names(section, "require_signature_from", text),
            allow_repos=self._names(section, "allow_repos", text),
        )

    def admin_scheduling(self) -> AdminScheduling:
        """`[scheduling_configuration] enable_admin_ucp_scheduling`; absent = the documented
        default, false."""
        section, text = self._config_table("scheduling_configuration")
        value = section.get("enable_admin_ucp_scheduling")
        if value is None:
            return AdminScheduling(enabled=False, configured=False)
        if not isinstance(value, bool):
            raise self.http.bad_response(
                CONFIG_ENDPOINT, "an enable_admin_ucp_scheduling that is not a boolean", text
            )
        return AdminScheduling(enabled=value, configured=True)

    def nodes(self) -> tuple[UCPNode, ...]:
        """UCP's node list, `GET /nodes` (the Docker API UCP serves to admins)."""
        reader = self.http.json(self._authorized("GET", "/nodes"))
        return tuple(
            _node(reader.child(item, f"node {index}")) for index, item in enumerate(reader.list())
        )

    def ca(self) -> str:
        """UCP's CA certificate (PEM) from `GET /ca`, as `--ucp-ca` takes it."""
        response = self.http.request("GET", "/ca")
        text = response.text
        if PEM_CERTIFICATE not in text:
            raise self.http.bad_response("GET /ca", "no PEM certificate", text)
        return text
