"""The target of a session: where DTR, its replicas and UCP are, how to trust and log in to them.

A `Target` is built once per session from the settings and the environment (or from the lab)
and hands out API clients that share its TLS settings, credentials and redactor. Clients are
created on first use and closed with the target.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from upgrade.clients.addresses import Verify, tls_verify
from upgrade.clients.dtr import DTRClient
from upgrade.clients.http import DTR, UCP
from upgrade.clients.registry import RegistryClient
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor, UCPCredentials
from upgrade.clients.ucp import UCPClient, UCPNode
from upgrade.cluster import addresses
from upgrade.cluster.addresses import ReplicaAddress, Resolver
from upgrade.config.settings import Settings
from upgrade.config.values import SettingsError, normalise_url
from upgrade.errors import HarnessError


@dataclass(frozen=True)
class Endpoints:
    """Where the cluster's services answer."""

    dtr_url: str
    ucp_url: str | None
    replica_urls: Mapping[str, str] = field(default_factory=dict)
    dtr_ca: Path | None = None
    ucp_ca: Path | None = None


class Target:
    """One DTR cluster (and its UCP) as this session reaches it."""

    def __init__(
        self,
        endpoints: Endpoints,
        dtr_credentials: DTRCredentials,
        ucp_credentials: UCPCredentials | None,
        *,
        insecure_tls: bool = False,
        redactor: Redactor | None = None,
        retry: RetryPolicy | None = None,
        resolve: Resolver = addresses.resolves,
    ) -> None:
        self.endpoints = endpoints
        self._resolve = resolve
        self.retry = retry
        self.dtr_credentials = dtr_credentials
        self.ucp_credentials = ucp_credentials
        self.insecure_tls = insecure_tls
        self.redactor = redactor or Redactor()
        self.redactor.add_credentials(dtr_credentials)
        if ucp_credentials is not None:
            self.redactor.add_credentials(ucp_credentials)
        self.dtr_verify: Verify = tls_verify(
            endpoints.dtr_ca, insecure=insecure_tls, option=DTR.ca_option
        )
        self.ucp_verify: Verify = tls_verify(
            endpoints.ucp_ca, insecure=insecure_tls, option=UCP.ca_option
        )
        self._lock = threading.Lock()
        self._dtr: DTRClient | None = None
        self._ucp: UCPClient | None = None
        self._registry: RegistryClient | None = None
        self._replica_addresses: dict[str, ReplicaAddress] | None = None
        self._replica_url_problems: list[str] = []
        self._ucp_url: str | None = endpoints.ucp_url or None

    def __repr__(self) -> str:
        return f"Target({self.endpoints.dtr_url!r})"

    @property
    def dtr_url(self) -> str:
        """The load-balanced DTR address."""
        return self.endpoints.dtr_url

    @property
    def host(self) -> str:
        """Host (and port) of the load-balanced address, for names and messages."""
        return urlsplit(self.dtr_url).netloc

    def dtr(self) -> DTRClient:
        """The DTR API client of the load-balanced address."""
        with self._lock:
            if self._dtr is None:
                self._dtr = DTRClient(
                    self.dtr_url,
                    self.dtr_credentials,
                    verify=self.dtr_verify,
                    redactor=self.redactor,
                    retry=self.retry,
                )
            return self._dtr

    def registry(self) -> RegistryClient:
        """The registry `/v2/` client of the load-balanced address."""
        with self._lock:
            if self._registry is None:
                self._registry = RegistryClient(
                    self.dtr_url,
                    self.dtr_credentials,
                    verify=self.dtr_verify,
                    redactor=self.redactor,
                    retry=self.retry,
                )
            return self._registry

    def ucp_url(self) -> str:
        """UCP's address: `--ucp-url`, else the ucpHost DTR reports in its features.

        The contract types `ucpHost` only as a required string (`responses.Features` in
        ../shared/dtr-api/dtr-2.{6,7}.0-swagger.json); the bootstrapper's `--ucp-url` takes
        "the UCP URL including domain and port" (dtr-facts.md 1.1). So the value is read as
        `--ucp-url` would be, `HOST[:PORT]` or `https://HOST[:PORT]`, and anything else
        (a port that is not a number, a path, another scheme) is refused naming `--ucp-url`.
        """
        if self._ucp_url:
            return self._ucp_url
        host = self.dtr().features().ucp_host
        if not host.strip():
            raise HarnessError(
                "DTR does not report its UCP (features.ucpHost is empty); pass UCP's address "
                "with --ucp-url https://HOST[:PORT]"
            )
        try:
            self._ucp_url = normalise_url(host, "features.ucpHost")
        except SettingsError as exc:
            raise HarnessError(
                f"DTR reports its UCP at an address the harness cannot use ({exc}); pass "
                "UCP's address with --ucp-url https://HOST[:PORT]"
            ) from None
        return self._ucp_url

    @property
    def known_ucp_url(self) -> str | None:
        """UCP's address if given or already learnt from DTR (never connects)."""
        return self._ucp_url

    def ucp(self) -> UCPClient:
        """The UCP client, logged in."""
        if self.ucp_credentials is None:
            raise HarnessError(
                "UCP credentials are missing: set UCP_USERNAME and UCP_PASSWORD in the environment"
            )
        with self._lock:
            client = self._ucp
        if client is None:
            client = UCPClient(
                self.ucp_url(),
                self.ucp_credentials,
                verify=self.ucp_verify,
                redactor=self.redactor,
                retry=self.retry,
            )
            client.login()
            with self._lock:
                self._ucp = client
        return client

    def replica_urls(self) -> dict[str, str]:
        """Every replica's own address (see `replica_addresses`)."""
        return {rid: a.url for rid, a in self.replica_addresses().items()}

    def replica_addresses(self) -> dict[str, ReplicaAddress]:
        """Every replica's own address. The replicas are those DTR's replicaSettings list,
        always; `--replica-url` only overrides the address of the replica it names. The others
        get their node and HTTPS port from replicaSettings, with the address from UCP's node
        list for a node name that does not resolve here (upgrade.cluster.addresses). Read once
        per session; a `--replica-url` naming no replica is in `replica_url_problems`."""
        with self._lock:
            if self._replica_addresses is not None:
                return dict(self._replica_addresses)
        replicas = self.dtr().settings().replicas
        given = self.endpoints.replica_urls
        rest = [r for r in replicas if r.replica_id not in given]
        nodes: tuple[UCPNode, ...] | None = None
        problem = ""
        if not all(r.node and self._resolve(r.node) for r in rest):
            try:
                nodes = self.ucp().nodes()
            except HarnessError as exc:
                problem = f"UCP's node list could not be read: {exc}"
        derived = addresses.from_settings(rest, nodes, ucp_problem=problem, resolve=self._resolve)
        overrides = addresses.given(given)
        found = {
            r.replica_id: overrides.get(r.replica_id) or derived[r.replica_id] for r in replicas
        }
        strangers = addresses.not_replicas(given, [r.replica_id for r in replicas])
        with self._lock:
            self._replica_addresses = found
            self._replica_url_problems = strangers
        return dict(found)

    def address_problems(self) -> list[str]:
        """Each replica without a usable address, then each `--replica-url` naming no replica
        of this DTR (PRE- and POST-REPLICA-ADDRESSES judge them)."""
        found = self.replica_addresses()
        problems = [a.problem for _, a in sorted(found.items()) if a.problem]
        return problems + self.replica_url_problems()

    def replica_url_problems(self) -> list[str]:
        """One problem for each `--replica-url` whose ID is not a replica of this DTR."""
        self.replica_addresses()
        with self._lock:
            return list(self._replica_url_problems)

    def close(self) -> None:
        """Close every client's connections."""
        with self._lock:
            clients = [c for c in (self._dtr, self._ucp, self._registry) if c is not None]
            self._dtr = self._ucp = self._registry = None
        for client in clients:
            client.close()


def from_settings(
    settings: Settings, environ: Mapping[str, str], redactor: Redactor | None = None
) -> Target:
    """The target of a real cluster: addresses from the settings, secrets from the environment.

    UCP credentials are optional here: checks that need UCP fail with a message naming the
    variables when they are missing.
    """
    dtr_credentials = DTRCredentials.from_environ(environ)
    try:
        ucp_credentials: UCPCredentials | None = UCPCredentials.from_environ(environ)
    except HarnessError:
        ucp_credentials = None
    endpoints = Endpoints(
        dtr_url=settings.target_url,
        ucp_url=settings.ucp_url,
        replica_urls=settings.replica_urls,
        dtr_ca=settings.dtr_ca,
        ucp_ca=settings.ucp_ca,
    )
    return Target(
        endpoints,
        dtr_credentials,
        ucp_credentials,
        insecure_tls=settings.insecure_tls,
        redactor=redactor,
        retry=RetryPolicy(attempts=settings.api_attempts),
    )
