"""Short-lived registry tokens: renewed before `expires_in` runs out and on a 401 challenge.

distribution's token spec: `expires_in` is the token's lifetime in seconds, 60 when absent
(fidelity-review.md 1); a real rolling upgrade takes minutes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.servers import PASSWORD, FakeClock, FakeServer, Reply, Seen
from upgrade.clients.registry import DEFAULT_TOKEN_LIFETIME_S, RegistryClient, token_lifetime
from upgrade.clients.secrets import DTRCredentials
from upgrade.errors import HarnessError
from upgrade.procedure.probe_targets import ProbeTarget
from upgrade.procedure.prober import Prober

CHALLENGE = 'Bearer realm="{url}/auth/token",service="dtr.example.com"'


class ExpiringTokens:
    """A token service whose tokens expire on `clock`, and a `/v2/` that checks them."""

    def __init__(
        self,
        server: FakeServer,
        clock: Callable[[], float],
        lifetime: Any,
        actual: float | None = None,
    ) -> None:
        self.server = server
        self.clock = clock
        self.lifetime = lifetime
        self.actual = actual
        self.expiry: dict[str, float] = {}
        self.down = False
        server.route("GET", "/auth/token", self.token)
        server.route("GET", "/v2/", self.v2)

    def token(self, seen: Seen) -> Reply:
        if self.down:
            return Reply(503, "token service down")
        expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        assert seen.headers.get("authorization") == f"Basic {expected}"
        token = f"tok-{len(self.expiry)}"
        self.expiry[token] = self.clock() + (self.actual or token_lifetime(self.lifetime))
        body: dict[str, Any] = {"token": token}
        if self.lifetime is not None:
            body["expires_in"] = self.lifetime
        return Reply(200, body)

    def v2(self, seen: Seen) -> Reply:
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if self.expiry.get(token, 0) <= self.clock():
            challenge = CHALLENGE.format(url=self.server.url)
            return Reply(
                401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge}
            )
        return Reply(200, {})


@pytest.fixture
def registry(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, clock: FakeClock
) -> Iterator[RegistryClient]:
    with RegistryClient(server.url, dtr_credentials, verify=ca_path) as client:
        client.clock = clock
        yield client


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 60.0), (300, 300.0), (2, 2.0), (0, 60.0), (-5, 60.0), ("60", 60.0), (True, 60.0)],
)
def test_token_lifetime_defaults_to_distributions_60_s(value: object, seconds: float) -> None:
    assert token_lifetime(value) == seconds
    assert DEFAULT_TOKEN_LIFETIME_S == 60.0


@pytest.mark.parametrize("lifetime", [None, 2, 300])
def test_probe_headers_are_renewed_before_the_token_expires(
    server: FakeServer, registry: RegistryClient, clock: FakeClock, lifetime: int | None
) -> None:
    tokens = ExpiringTokens(server, clock, lifetime)
    seconds = token_lifetime(lifetime)
    used = set()
    for _ in range(40):  # ten lifetimes, sampled four times each
        header = registry.auth_headers()["Authorization"]
        token = header.removeprefix("Bearer ")
        assert tokens.expiry[token] > clock(), "a probe was sent with an expired token"
        used.add(token)
        clock.sleep(seconds / 4)
    assert len(used) >= 10
    assert len(server.seen("GET", "/auth/token")) <= 25


def test_every_v2_call_renews_an_old_token(
    server: FakeServer, registry: RegistryClient, clock: FakeClock
) -> None:
    ExpiringTokens(server, clock, 2)
    for _ in range(10):
        registry.ping()
        clock.sleep(1.5)
    # only the very first call met a challenge: every later one renewed ahead of expiry
    assert len(server.seen("GET", "/v2/")) == 11
    assert len(server.seen("GET", "/auth/token")) == 10


def test_a_401_to_a_token_that_still_looked_valid_renews_it(
    server: FakeServer, registry: RegistryClient, clock: FakeClock
) -> None:
    tokens = ExpiringTokens(server, clock, 300)
    registry.ping()
    tokens.expiry.clear()  # the registry forgot every token (a replica restarted)
    assert registry.ping() == "registry/2.0"
    registry.renew_auth()
    assert len(server.seen("GET", "/auth/token")) == 3


def test_renewal_failure_keeps_a_valid_token_and_reports_an_expired_one(
    server: FakeServer, registry: RegistryClient, clock: FakeClock
) -> None:
    tokens = ExpiringTokens(server, clock, 20)
    first = registry.auth_headers()
    tokens.down = True
    clock.sleep(15)  # due for renewal, still valid
    assert registry.auth_headers() == first
    clock.sleep(10)  # expired, and the token service still down
    with pytest.raises(HarnessError) as caught:
        registry.auth_headers()
    assert "HTTP 503" in str(caught.value)


def test_prober_renews_on_401_and_counts_no_outage(
    server: FakeServer, ca_path: str, registry: RegistryClient
) -> None:
    """Tokens said to live 300 s expire after 0.15 s (as when the registry forgets them), so
    the client cannot renew ahead: each 401 is renewed and asked again, never an outage."""
    registry.clock = time.monotonic
    tokens = ExpiringTokens(server, time.monotonic, 300, actual=0.15)
    registry.auth_headers()
    target = ProbeTarget(
        "lb /v2/ (fresh)",
        f"{server.url}/v2/",
        keep_alive=False,
        check="status",
        headers=registry.auth_headers,
        renew=registry.renew_auth,
    )
    prober = Prober([target], interval=0.05, verify=ca_path)
    with prober:
        time.sleep(1.5)
    samples = prober.samples(target.name)
    assert len(samples) >= 15
    assert all(sample.ok for sample in samples), [s.error for s in samples if not s.ok]
    assert prober.result().endpoints[target.name].longest_outage_s == 0
    assert len(tokens.expiry) >= 5, "the tokens did not expire during the probe"
