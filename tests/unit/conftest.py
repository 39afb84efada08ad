"""Fixtures for the client tests: a CA, scripted HTTPS servers, a fake clock, credentials."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import trustme

from tests.support.servers import PASSWORD, UCP_PASSWORD, FakeClock, FakeServer
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, UCPCredentials


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA that signs the test servers' certificates."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CA bundle clients verify the test servers against."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def untrusted_ca_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA bundle that did not sign the test servers' certificates."""
    path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """The TLS context of the test servers (127.0.0.1 and localhost)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def server(server_context: ssl.SSLContext) -> Iterator[FakeServer]:
    """A scripted HTTPS server, stopped after the test."""
    fake = FakeServer(server_context)
    yield fake
    fake.close()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock whose sleep returns at once."""
    return FakeClock()


@pytest.fixture
def retry(clock: FakeClock) -> RetryPolicy:
    """The default retry policy, waiting on the fake clock."""
    return RetryPolicy(sleep=clock.sleep, clock=clock)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dtr_credentials() -> DTRCredentials:
    """DTR credentials with a known password."""
    return DTRCredentials.of("admin", password=PASSWORD)


@pytest.fixture
def ucp_credentials() -> UCPCredentials:
    """UCP credentials with a known password."""
    return UCPCredentials.of("admin", UCP_PASSWORD)
