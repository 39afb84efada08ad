"""Addresses from DTR's own answers that are not host:port: the harness says so in its words.

The contract types `features.ucpHost` and `replicaSettings.*.node` only as strings
(../shared/dtr-api/dtr-2.7.0-swagger.json, `responses.Features`, `responses.Settings`), so any
string may come back; none may end in `ValueError` or `LocationParseError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import FakeServer, Reply
from upgrade.clients.addresses import url_problem
from upgrade.clients.dtr import DTRClient
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, UCPCredentials
from upgrade.cluster.target import Endpoints, Target
from upgrade.errors import HarnessError
from upgrade.procedure.probe_targets import ProberError, ProbeTarget

RAW = ("ValueError", "LocationParseError", "could not be cast", "Failed to parse", "Traceback")

FEATURES = {
    "scanningEnabled": True,
    "scanningLicensed": True,
    "promotionLicensed": False,
    "mirroringLicensed": False,
    "metadataStoreOptedIn": True,
    "onlineGCEnabled": True,
    "db_version": 1,
}


@pytest.fixture
def target(
    server: FakeServer,
    ca_path: str,
    dtr_credentials: DTRCredentials,
    ucp_credentials: UCPCredentials,
) -> Iterator[Target]:
    endpoints = Endpoints(dtr_url=server.url, ucp_url=None, dtr_ca=Path(ca_path))
    target = Target(endpoints, dtr_credentials, ucp_credentials, retry=RetryPolicy(attempts=1))
    yield target
    target.close()


@pytest.mark.parametrize(
    "ucp_host",
    [
        "ucp.example.com:abc",
        "ucp.example.com:99999",
        "ucp.example.com:0",
        "[fe80::1",
        "ucp example.com",
        "tcp://ucp.example.com:2376",
        "ucp.example.com/ucp",
        "http://ucp.example.com",
        "ucp.example.com:443:443",
        "   ",
        "admin:pw@ucp.example.com",
    ],
)
def test_odd_ucp_host_names_the_problem_and_ucp_url(
    server: FakeServer, target: Target, ucp_host: str
) -> None:
    server.route("GET", "/api/v0/meta/features", Reply(200, {**FEATURES, "ucpHost": ucp_host}))
    for call in (target.ucp_url, target.ucp):
        with pytest.raises(HarnessError) as caught:
            call()
        message = str(caught.value)
        assert "--ucp-url https://HOST[:PORT]" in message
        assert "\n" not in message
        assert not any(raw in message for raw in RAW), message


@pytest.mark.parametrize(
    ("ucp_host", "url"),
    [
        ("ucp.example.com:8443", "https://ucp.example.com:8443"),
        ("ucp.example.com", "https://ucp.example.com"),
        ("https://ucp.example.com:443/", "https://ucp.example.com:443"),
        (" ucp.example.com ", "https://ucp.example.com"),
        ("[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_usable_ucp_host_becomes_the_ucp_url(
    server: FakeServer, target: Target, ucp_host: str, url: str
) -> None:
    server.route("GET", "/api/v0/meta/features", Reply(200, {**FEATURES, "ucpHost": ucp_host}))
    assert target.ucp_url() == url


@pytest.mark.parametrize(
    "base",
    ["https://node:abc", "https://", "https://node 1", "https://[fe80::1", "https://node:70000"],
)
def test_a_request_to_an_odd_address_is_a_harness_error(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, base: str
) -> None:
    with (
        DTRClient(server.url, dtr_credentials, verify=ca_path) as client,
        pytest.raises(HarnessError) as caught,
    ):
        client.ping(base)
    message = str(caught.value)
    assert "cannot be sent" in message
    assert not any(raw in message for raw in RAW), message


def test_client_and_prober_refuse_an_odd_base_url(dtr_credentials: DTRCredentials) -> None:
    for url in ("https://dtr:abc", "https://dtr:0", "https://[::1"):
        assert url_problem(url) is not None
        with pytest.raises(HarnessError, match=r"pass https://HOST\[:PORT\] with --target"):
            DTRClient(url, dtr_credentials)
        with pytest.raises(ProberError, match="give an absolute"):
            ProbeTarget("lb /_ping (fresh)", f"{url}/_ping", keep_alive=False)
    assert url_problem("https://dtr.example.com:8443/x") is None
