"""Sessions, timeouts, retries and error translation, against local HTTPS servers."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import PASSWORD, FakeClock, FakeServer, Reply
from upgrade.clients.addresses import tls_verify
from upgrade.clients.errors import (
    APIError,
    AuthenticationFailed,
    BadResponse,
    PermissionDenied,
    RequestTimedOut,
    TargetUnreachable,
    TLSVerificationFailed,
)
from upgrade.clients.http import DTR, UCP, ServiceSession, excerpt
from upgrade.clients.json import parse_time
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials
from upgrade.errors import HarnessError


@pytest.fixture
def session(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, retry: RetryPolicy
) -> Iterator[ServiceSession]:
    http = ServiceSession(DTR, server.url, dtr_credentials, verify=ca_path, retry=retry)
    http.session.auth = (dtr_credentials.username, dtr_credentials.secret)
    yield http
    http.close()


def assert_one_line_without_secret(error: BaseException) -> None:
    text = str(error)
    assert "\n" not in text
    assert PASSWORD not in text
    assert PASSWORD not in repr(error)


def test_get_json_with_verified_tls(server: FakeServer, session: ServiceSession) -> None:
    server.route("GET", "/api/v0/meta/features", Reply(200, {"scanningEnabled": True}))
    reader = session.get_json("/api/v0/meta/features")
    assert reader.get("scanningEnabled", bool) is True
    assert (
        server.seen("GET", "/api/v0/meta/features")[0].headers["authorization"].startswith("Basic ")
    )


def test_500_then_200_is_retried_with_backoff(
    server: FakeServer, session: ServiceSession, clock: FakeClock
) -> None:
    server.route("GET", "/x", Reply(500, "boom"), Reply(502, "boom"), Reply(200, {"ok": 1}))
    assert session.get_json("/x").get("ok", int) == 1
    assert len(server.seen("GET", "/x")) == 3
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0 + 1e-9
    assert 1.0 <= clock.sleeps[1] <= 1.5 + 1e-9


def test_500_forever_is_bounded_in_attempts(
    server: FakeServer, session: ServiceSession, clock: FakeClock
) -> None:
    server.route("GET", "/x", Reply(500, {"errors": [{"code": "UNKNOWN", "message": "db down"}]}))
    with pytest.raises(APIError) as info:
        session.get_json("/x")
    assert len(server.seen("GET", "/x")) == 4
    assert len(clock.sleeps) == 3
    assert str(info.value) == (
        "DTR answered GET /x with HTTP 500 (4 attempts): UNKNOWN db down; "
        "check the health of DTR (its logs and /_ping)"
    )
    assert info.value.status == 500
    assert_one_line_without_secret(info.value)


def test_retries_are_bounded_in_total_time(
    server: FakeServer, ca_path: str, clock: FakeClock
) -> None:
    policy = RetryPolicy(attempts=100, total_s=10.0, sleep=clock.sleep, clock=clock)
    server.route("GET", "/x", Reply(503, ""))
    with (
        ServiceSession(DTR, server.url, None, verify=ca_path, retry=policy) as http,
        pytest.raises(APIError, match="HTTP 503 \\(5 attempts\\)"),
    ):
        http.get_json("/x")
    assert sum(clock.sleeps) <= 10.0
    assert len(server.seen("GET", "/x")) == 5


def test_post_is_not_retried(server: FakeServer, session: ServiceSession, clock: FakeClock) -> None:
    server.route("POST", "/api/v0/jobs", Reply(500, "boom"))
    with pytest.raises(APIError, match="answered POST /api/v0/jobs with HTTP 500: boom"):
        session.request("POST", "/api/v0/jobs", json={"action": "x"}, expect=(202,))
    assert len(server.seen("POST", "/api/v0/jobs")) == 1
    assert clock.sleeps == []


def test_4xx_is_not_retried(server: FakeServer, session: ServiceSession, clock: FakeClock) -> None:
    server.route(
        "GET",
        "/api/v0/jobs/nope",
        Reply(404, {"errors": [{"code": "NO_SUCH_JOB", "message": "job not found"}]}),
    )
    with pytest.raises(APIError) as info:
        session.get_json("/api/v0/jobs/nope")
    assert info.value.code == "NO_SUCH_JOB"
    assert str(info.value) == (
        "DTR answered GET /api/v0/jobs/nope with HTTP 404: NO_SUCH_JOB job not found; "
        "check the request's target and parameters"
    )
    assert clock.sleeps == []


def test_401_names_the_environment_variables(
    server: FakeServer, session: ServiceSession, clock: FakeClock
) -> None:
    server.route(
        "GET", "/x", Reply(401, {"errors": [{"code": "NOT_AUTHENTICATED", "message": "bad"}]})
    )
    with pytest.raises(AuthenticationFailed) as info:
        session.get_json("/x")
    assert str(info.value) == (
        "DTR rejected the credentials of DTR_USERNAME=admin with DTR_PASSWORD "
        "(401: NOT_AUTHENTICATED bad); check DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN"
    )
    assert clock.sleeps == []
    assert_one_line_without_secret(info.value)


def test_403_names_the_account(server: FakeServer, session: ServiceSession) -> None:
    server.route("GET", "/api/v0/meta/settings", Reply(403, {"message": "admin only"}))
    with pytest.raises(PermissionDenied) as info:
        session.get_json("/api/v0/meta/settings")
    assert str(info.value) == (
        "DTR refused GET /api/v0/meta/settings for DTR_USERNAME=admin with DTR_PASSWORD "
        "(403: admin only); use an account with admin rights on DTR"
    )


def test_a_body_echoing_the_password_is_redacted(
    server: FakeServer, session: ServiceSession, caplog: pytest.LogCaptureFixture
) -> None:
    server.route("GET", "/x", Reply(400, f"bad request: password={PASSWORD}\nsecond line"))
    with caplog.at_level(logging.DEBUG), pytest.raises(APIError) as info:
        session.get_json("/x")
    assert "password=****" in str(info.value)
    assert_one_line_without_secret(info.value)
    assert PASSWORD not in caplog.text


def test_invalid_json_is_a_bad_response(server: FakeServer, session: ServiceSession) -> None:
    server.route("GET", "/x", Reply(200, "<html>proxy login</html>"))
    with pytest.raises(BadResponse) as info:
        session.get_json("/x")
    assert str(info.value) == (
        "DTR answered GET /x with invalid JSON: '<html>proxy login</html>'; check that the URL "
        "points at DTR itself and not at a proxy or another service"
    )


def test_wrong_shape_is_a_bad_response(server: FakeServer, session: ServiceSession) -> None:
    server.route("GET", "/x", Reply(200, {"jobs": "not-a-list", "n": True}))
    reader = session.get_json("/x")
    with pytest.raises(BadResponse, match="'jobs' of type string where list was expected"):
        reader.get("jobs", list)
    with pytest.raises(BadResponse, match="no 'missing' field"):
        reader.get("missing", str)
    with pytest.raises(BadResponse, match="'n' of type boolean where int was expected"):
        reader.get("n", int)
    with pytest.raises(BadResponse, match="a JSON object where an array was expected"):
        reader.list()


def test_untrusted_certificate_names_the_ca_option(
    server: FakeServer, untrusted_ca_path: str, retry: RetryPolicy, clock: FakeClock
) -> None:
    server.route("GET", "/x", Reply(200, {}))
    with (
        ServiceSession(DTR, server.url, None, verify=untrusted_ca_path, retry=retry) as http,
        pytest.raises(TLSVerificationFailed) as info,
    ):
        http.get_json("/x")
    message = str(info.value)
    assert message.startswith(f"the TLS certificate of DTR at {server.url}/x did not verify (")
    assert "pass the CA that signed it with --dtr-ca FILE, or --insecure-tls" in message
    assert "impersonate" in message
    assert clock.sleeps == [], "a TLS verification failure is not retried"
    assert server.requests == []


def test_ucp_tls_failure_names_the_ucp_ca_option(
    server: FakeServer, untrusted_ca_path: str, retry: RetryPolicy
) -> None:
    with (
        ServiceSession(UCP, server.url, None, verify=untrusted_ca_path, retry=retry) as http,
        pytest.raises(TLSVerificationFailed, match="with --ucp-ca FILE"),
    ):
        http.get_json("/x")


def test_insecure_tls_skips_verification_without_warnings(
    server: FakeServer, retry: RetryPolicy
) -> None:
    server.route("GET", "/x", Reply(200, {"ok": 1}))
    with ServiceSession(DTR, server.url, None, verify=False, retry=retry) as http:
        assert http.get_json("/x").get("ok", int) == 1


def test_concurrent_insecure_requests_keep_warnings_silenced(
    server: FakeServer, retry: RetryPolicy
) -> None:
    server.route("GET", "/x", Reply(200, {"ok": 1}))
    errors: list[BaseException] = []
    with ServiceSession(DTR, server.url, None, verify=False, retry=retry) as http:

        def work() -> None:
            try:
                for _ in range(5):
                    http.get_json("/x")
            except BaseException as error:  # collected and asserted on below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []


def test_refused_connection_names_host_and_port(
    closed_port: int, ca_path: str, retry: RetryPolicy, clock: FakeClock
) -> None:
    url = f"https://127.0.0.1:{closed_port}"
    with (
        ServiceSession(DTR, url, None, verify=ca_path, retry=retry) as http,
        pytest.raises(TargetUnreachable) as info,
    ):
        http.get_json("/_ping")
    assert str(info.value) == (
        f"cannot reach DTR at 127.0.0.1:{closed_port}: connection refused (4 attempts); "
        "check the host and port given with --target"
    )
    assert len(clock.sleeps) == 3


def test_unresolvable_host_is_not_retried(
    ca_path: str, retry: RetryPolicy, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with (
        ServiceSession(UCP, "https://ucp.invalid:8443", None, verify=ca_path, retry=retry) as http,
        pytest.raises(TargetUnreachable) as info,
    ):
        http.get_json("/_ping")
    assert str(info.value) == (
        "cannot reach UCP at ucp.invalid:8443: the host name does not resolve (DNS); "
        "check the host and port given with --ucp-url"
    )
    assert clock.sleeps == []


def test_an_unreachable_replica_names_replica_url_not_target(
    ca_path: str, retry: RetryPolicy, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica's address comes from replicaSettings or UCP's node list, not from --target."""

    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with (
        ServiceSession(DTR, "https://dtr.invalid", None, verify=ca_path, retry=retry) as http,
        pytest.raises(TargetUnreachable) as info,
    ):
        http.get_json("/_ping", base="https://lab-worker-1:4443")
    assert str(info.value) == (
        "cannot reach DTR at lab-worker-1:4443: the host name does not resolve (DNS); check the "
        "host and port given with --replica-url RID=https://HOST[:PORT] (a replica's own address)"
    )
    with pytest.raises(HarnessError) as refused:
        http.get_json("/_ping", base="https://2.7.0-29094adc:-602")
    assert "the port is not a number from 1 to 65535" in str(refused.value)
    assert "(given with --replica-url RID=https://HOST[:PORT]" in str(refused.value)


def test_read_timeout_is_retried_then_reported(
    ca_path: str, retry: RetryPolicy, clock: FakeClock
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        url = f"https://127.0.0.1:{port}"
        with (
            ServiceSession(DTR, url, None, verify=ca_path, timeout=(0.2, 0.2), retry=retry) as http,
            pytest.raises(RequestTimedOut) as info,
        ):
            http.get_json("/api/v0/meta/cluster_status")
    assert str(info.value) == (
        f"DTR did not answer GET {url}/api/v0/meta/cluster_status within the 0.2 s read "
        "timeout (4 attempts); check the replica's load and health, or raise the read timeout"
    )


def test_a_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(HarnessError, match="pass https://HOST\\[:PORT\\] with --target"):
        ServiceSession(DTR, "dtr.example.com", None)


def test_tls_verify_resolves_the_options(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem")
    assert tls_verify(None, insecure=False, option="--dtr-ca") is True
    assert tls_verify(None, insecure=True, option="--dtr-ca") is False
    assert tls_verify(bundle, insecure=False, option="--dtr-ca") == str(bundle)
    with pytest.raises(HarnessError, match=r"--dtr-ca .*: no such file"):
        tls_verify(tmp_path / "missing.pem", insecure=False, option="--dtr-ca")
    with pytest.raises(HarnessError, match="--ucp-ca and --insecure-tls contradict"):
        tls_verify(bundle, insecure=True, option="--ucp-ca")


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(HarnessError, match="at least 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2017-02-17T01:09:47.771Z", "2017-02-17T01:09:47.771000+00:00"),
        ("2019-07-23T10:00:00.123456789Z", "2019-07-23T10:00:00.123456+00:00"),
        ("2019-07-23T10:00:00+02:00", "2019-07-23T10:00:00+02:00"),
    ],
)
def test_parse_time_reads_go_times(text: str, iso: str) -> None:
    parsed = parse_time(text, lambda: ValueError(text))
    assert parsed is not None
    assert parsed.isoformat() == iso


def test_parse_time_zero_time_is_none() -> None:
    assert parse_time("0001-01-01T00:00:00Z", lambda: ValueError()) is None
    with pytest.raises(ValueError, match="nope"):
        parse_time("yesterday", lambda: ValueError("nope"))


def test_excerpt_is_one_short_line() -> None:
    assert excerpt("a\nb\tc") == "a b c"
    assert len(excerpt("x" * 500)) == 160


def test_the_environment_proxies_are_still_honoured(
    server: FakeServer,
    ca_path: str,
    closed_port: int,
    retry: RetryPolicy,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The session does not read the environment per request, but HTTPS_PROXY and NO_PROXY
    still decide where a request goes, as requests' own environment handling would."""
    server.route("GET", "/x", Reply(200, {"ok": 1}))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with (
        ServiceSession(DTR, server.url, None, verify=ca_path, retry=retry) as http,
        pytest.raises(HarnessError),
    ):
        http.get_json("/x")
    assert server.seen("GET", "/x") == []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ServiceSession(DTR, server.url, None, verify=ca_path, retry=retry) as http:
        assert http.get_json("/x").get("ok", int) == 1


def test_a_netrc_entry_never_replaces_the_header_given(
    server: FakeServer, ca_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets come only from the environment: requests' ~/.netrc lookup would have sent its
    basic credentials instead of the registry's bearer token."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    server.route("GET", "/v2/", Reply(200, {}))
    with ServiceSession(DTR, server.url, None, verify=ca_path) as http:
        http.request("GET", "/v2/", headers={"Authorization": "Bearer abc"})
    assert server.seen("GET", "/v2/")[0].headers["authorization"] == "Bearer abc"


@pytest.mark.parametrize("path", ["/a b", "/a\x01b", "/a\u00a0b", "/a\u2028b"])
def test_a_path_that_cannot_be_sent_is_refused_under_the_base_url(
    server: FakeServer, session: ServiceSession, path: str
) -> None:
    """Paths under the base URL skip the address check, not the refusal of what cannot be sent."""
    with pytest.raises(HarnessError, match="cannot be sent: the address contains a space"):
        session.request("GET", path)
    assert server.requests == []
