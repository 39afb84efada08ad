"""The UCP client: login, bearer token, version, config TOML, content trust, admin scheduling
and the node list."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tests.support.servers import UCP_PASSWORD, FakeServer, Reply, Seen
from upgrade.clients.errors import AuthenticationFailed, BadResponse, TargetUnreachable
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import Redactor, UCPCredentials
from upgrade.clients.ucp import AdminScheduling, ContentTrust, UCPClient, UCPNode

AUTH_TOKEN = "ucp-bearer-token-0123456789"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def ucp(
    server: FakeServer,
    ca_path: str,
    ucp_credentials: UCPCredentials,
    retry: RetryPolicy,
    redactor: Redactor,
) -> Iterator[UCPClient]:
    def login(seen: Seen) -> Reply:
        body = json.loads(seen.body)
        if body == {"username": "admin", "password": UCP_PASSWORD}:
            return Reply(200, {"auth_token": AUTH_TOKEN, "token_id": "t1"})
        return Reply(401, {"message": "invalid credentials"})

    server.route("POST", "/auth/login", login)
    with UCPClient(
        server.url, ucp_credentials, verify=ca_path, retry=retry, redactor=redactor
    ) as client:
        yield client


def bearer_only(reply: Reply) -> object:
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {AUTH_TOKEN}":
            return Reply(401, {"message": "unauthorized"})
        return reply

    return handler


def test_version_strips_the_ucp_prefix(
    server: FakeServer, ucp: UCPClient, redactor: Redactor
) -> None:
    server.route("GET", "/version", bearer_only(Reply(200, {"Version": "ucp/3.1.6"})))
    assert ucp.version() == "3.1.6"
    assert len(server.seen("POST", "/auth/login")) == 1
    assert redactor.redact(f"Bearer {AUTH_TOKEN}") == "Bearer ****"


def test_version_without_prefix(server: FakeServer, ucp: UCPClient) -> None:
    server.route("GET", "/version", bearer_only(Reply(200, {"Version": "3.2.0"})))
    assert ucp.version() == "3.2.0"


def test_expired_token_logs_in_again_once(server: FakeServer, ucp: UCPClient) -> None:
    server.route(
        "GET",
        "/version",
        Reply(401, {"message": "token expired"}),
        Reply(200, {"Version": "ucp/3.1.6"}),
    )
    assert ucp.version() == "3.1.6"
    assert len(server.seen("POST", "/auth/login")) == 2


def test_wrong_password_names_the_ucp_variables(
    server: FakeServer, ca_path: str, retry: RetryPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("POST", "/auth/login", Reply(401, {"message": "invalid credentials"}))
    credentials = UCPCredentials.of("admin", "wrong-Pa55word")
    with (
        caplog.at_level(logging.DEBUG),
        UCPClient(server.url, credentials, verify=ca_path, retry=retry) as ucp,
        pytest.raises(AuthenticationFailed) as info,
    ):
        ucp.version()
    assert str(info.value) == (
        "UCP rejected the credentials of UCP_USERNAME=admin with UCP_PASSWORD "
        "(401: invalid credentials); check UCP_USERNAME and UCP_PASSWORD"
    )
    for text in (str(info.value), repr(ucp), caplog.text):
        assert "wrong-Pa55word" not in text


def test_ping(server: FakeServer, ucp: UCPClient) -> None:
    server.route("GET", "/_ping", Reply(200, "OK"), Reply(500, "manager unhealthy"))
    assert ucp.ping().healthy
    sick = ucp.ping()
    assert (sick.healthy, sick.status, sick.error) == (False, 500, "manager unhealthy")


def test_ucp_down_names_host_and_port(
    closed_port: int, ca_path: str, ucp_credentials: UCPCredentials, retry: RetryPolicy
) -> None:
    with (
        UCPClient(
            f"https://127.0.0.1:{closed_port}", ucp_credentials, verify=ca_path, retry=retry
        ) as ucp,
        pytest.raises(TargetUnreachable, match=f"cannot reach UCP at 127.0.0.1:{closed_port}"),
    ):
        ucp.ping()


TOML_ON = """
[scheduling_configuration]
enable_admin_ucp_scheduling = true

[trust_configuration]
require_content_trust = true
require_signature_from = ["team1", "team2"]
"""


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (TOML_ON, ContentTrust(required=True, signers=("team1", "team2"))),
        ("[trust_configuration]\nrequire_content_trust = false\n", ContentTrust(False, ())),
        ("[auth]\ndefault_new_user_role = 'restrictedcontrol'\n", ContentTrust(False, ())),
    ],
    ids=["on", "off", "absent"],
)
def test_content_trust(server: FakeServer, ucp: UCPClient, toml: str, expected: object) -> None:
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    assert ucp.content_trust() == expected
    [request] = server.seen("GET", "/api/ucp/config-toml")
    assert request.headers["accept"] == "application/toml"


def test_content_trust_with_invalid_toml(server: FakeServer, ucp: UCPClient) -> None:
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, "[trust_configuration")))
    with pytest.raises(BadResponse, match="answered GET /api/ucp/config-toml with invalid TOML"):
        ucp.content_trust()


def test_content_trust_with_a_wrong_type(server: FakeServer, ucp: UCPClient) -> None:
    toml = '[trust_configuration]\nrequire_content_trust = "yes"\n'
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    with pytest.raises(BadResponse, match="require_content_trust that is not a boolean"):
        ucp.content_trust()


def test_ca(server: FakeServer, ucp: UCPClient) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    server.route("GET", "/ca", Reply(200, pem))
    assert ucp.ca() == pem
    server.route("GET", "/ca", Reply(200, "<html>"))
    with pytest.raises(BadResponse, match="no PEM certificate"):
        ucp.ca()


def test_allow_repos_are_read(server: FakeServer, ucp: UCPClient) -> None:
    toml = (
        "[trust_configuration]\nrequire_content_trust = true\n"
        'allow_repos = ["docker.io/mirantis/dtr-rethink", "docker.io/mirantis/dtr"]\n'
    )
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    assert ucp.content_trust().allow_repos == (
        "docker.io/mirantis/dtr-rethink",
        "docker.io/mirantis/dtr",
    )


def test_allow_repos_of_a_wrong_type(server: FakeServer, ucp: UCPClient) -> None:
    toml = '[trust_configuration]\nrequire_content_trust = true\nallow_repos = "docker/dtr"\n'
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    with pytest.raises(BadResponse, match="an allow_repos that is not a list of names"):
        ucp.content_trust()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (TOML_ON, AdminScheduling(enabled=True, configured=True)),
        (
            "[scheduling_configuration]\nenable_admin_ucp_scheduling = false\n",
            AdminScheduling(enabled=False, configured=True),
        ),
        ("[trust_configuration]\n", AdminScheduling(enabled=False, configured=False)),
    ],
    ids=["on", "off", "absent"],
)
def test_admin_scheduling(server: FakeServer, ucp: UCPClient, toml: str, expected: object) -> None:
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    assert ucp.admin_scheduling() == expected


def test_admin_scheduling_of_a_wrong_type(server: FakeServer, ucp: UCPClient) -> None:
    toml = '[scheduling_configuration]\nenable_admin_ucp_scheduling = "yes"\n'
    server.route("GET", "/api/ucp/config-toml", bearer_only(Reply(200, toml)))
    with pytest.raises(BadResponse, match="enable_admin_ucp_scheduling that is not a boolean"):
        ucp.admin_scheduling()


def test_nodes_give_hostnames_and_addresses(server: FakeServer, ucp: UCPClient) -> None:
    nodes = [
        {
            "ID": "m1",
            "Description": {"Hostname": "manager-1"},
            "Spec": {"Role": "manager"},
            "Status": {"State": "ready", "Addr": "0.0.0.0"},  # noqa: S104
            "ManagerStatus": {"Leader": True, "Addr": "10.0.0.1:2377"},
        },
        {
            "ID": "w1",
            "Description": {"Hostname": "worker-1"},
            "Spec": {"Role": "worker"},
            "Status": {"State": "ready", "Addr": "10.0.0.11"},
        },
        {"ID": "w2", "Status": {}},
    ]
    server.route("GET", "/nodes", bearer_only(Reply(200, nodes)))
    assert ucp.nodes() == (
        UCPNode("m1", "manager-1", "10.0.0.1", "manager"),
        UCPNode("w1", "worker-1", "10.0.0.11", "worker"),
        UCPNode("w2", "", "", ""),
    )


def test_nodes_that_are_not_a_list(server: FakeServer, ucp: UCPClient) -> None:
    server.route("GET", "/nodes", bearer_only(Reply(200, {"message": "no"})))
    with pytest.raises(BadResponse, match="where an array was expected"):
        ucp.nodes()
