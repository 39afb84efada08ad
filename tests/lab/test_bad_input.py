"""Bad input gives one clear line naming what to fix, never a traceback, never a secret."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from dtrlab import Lab
from tests.lab.sessions import Session, run_session
from tests.support.servers import FakeServer, Reply

WRONG = "Wr0ng-Pa55word-xyz"


def lab_env(lab: Lab, **overrides: str) -> dict[str, str]:
    creds = lab.credentials
    env = {
        "DTR_USERNAME": creds.username,
        "DTR_PASSWORD": creds.password,
        "UCP_USERNAME": creds.ucp_username,
        "UCP_PASSWORD": creds.ucp_password,
        "DTR_TOKEN": "",
    }
    env.update(overrides)
    return env


def lab_args(lab: Lab, *, dtr_ca: bool = True, ucp_url: str | None = None) -> list[str]:
    args = ["--to-version=2.6.4", f"--ucp-url={ucp_url or lab.ucp_url}", f"--ucp-ca={lab.ca_path}"]
    if dtr_ca:
        args.append(f"--dtr-ca={lab.ca_path}")
    return args


def assert_clean(run: Session, *secrets: str) -> None:
    """No traceback, no internal error, and no secret in the output or the bundle."""
    assert "Traceback" not in run.output
    assert "INTERNALERROR" not in run.output
    for path in run.bundle.iterdir():
        text = path.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked into {path.name}"
    for secret in secrets:
        assert secret not in run.output


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lb_port(lab: Lab) -> str:
    return lab.url.removeprefix("https://")


def test_unreachable_host(tmp_path: Path, lab: Lab) -> None:
    port = closed_port()
    run = run_session(tmp_path, *lab_args(lab), env=lab_env(lab), target=f"127.0.0.1:{port}")
    assert run.result["verdict"] == "NO-GO"
    assert f"cannot reach DTR at 127.0.0.1:{port}" in run.last_line
    assert "check --target" in run.last_line
    assert_clean(run, lab.credentials.password)


def test_wrong_password_names_the_variables(tmp_path: Path, lab: Lab) -> None:
    run = run_session(
        tmp_path, *lab_args(lab), env=lab_env(lab, DTR_PASSWORD=WRONG), target=lb_port(lab)
    )
    assert run.result["verdict"] == "NO-GO"
    (check,) = run.checks("PRE-CREDENTIALS")
    assert check["outcome"] == "failed"
    assert "DTR_USERNAME=admin with DTR_PASSWORD (401" in check["message"]
    assert "check DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN" in check["message"]
    assert_clean(run, WRONG, lab.credentials.password)


def test_untrusted_certificate_names_the_ca_option(tmp_path: Path, lab: Lab) -> None:
    run = run_session(tmp_path, *lab_args(lab, dtr_ca=False), env=lab_env(lab), target=lb_port(lab))
    assert run.result["verdict"] == "NO-GO"
    assert "did not verify" in run.last_line
    assert "--dtr-ca FILE" in run.last_line
    assert_clean(run, lab.credentials.password)


def test_ucp_down_fails_the_ucp_checks(tmp_path: Path, lab: Lab) -> None:
    port = closed_port()
    run = run_session(
        tmp_path,
        *lab_args(lab, ucp_url=f"https://127.0.0.1:{port}"),
        env=lab_env(lab),
        target=lb_port(lab),
    )
    assert run.result["verdict"] == "NO-GO"
    assert {"PRE-UCP-HEALTH", "PRE-CONTENT-TRUST"} <= run.failed_ids()
    (check,) = run.checks("PRE-UCP-HEALTH")
    assert f"cannot reach UCP at 127.0.0.1:{port}" in check["message"]
    assert "--ucp-url" in check["message"]
    assert "PRE-CLUSTER-STATUS" not in run.failed_ids()
    assert_clean(run, lab.credentials.password)


@pytest.fixture
def broken_dtr(tmp_path: Path) -> Iterator[tuple[FakeServer, Path]]:
    """A TLS server whose certificate verifies but whose API is broken, scripted per test."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = FakeServer(context)
    yield server, ca_file
    server.close()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (lambda: Reply(500, {"errors": [{"code": "UNKNOWN", "message": "boom"}]}), "with HTTP 500"),
        (lambda: Reply(200, "<html>not json</html>"), "with invalid JSON"),
    ],
    ids=["api-500", "invalid-json"],
)
def test_broken_api_is_one_line(
    tmp_path: Path,
    broken_dtr: tuple[FakeServer, Path],
    reply: Callable[[], Reply],
    expected: str,
) -> None:
    server, ca_file = broken_dtr
    for path in ("/api/v0/meta/settings", "/api/v0/meta/cluster_status", "/api/v0/docs.json"):
        server.route("GET", path, reply())
    env = {
        "DTR_USERNAME": "admin",
        "DTR_PASSWORD": WRONG,
        "UCP_USERNAME": "admin",
        "UCP_PASSWORD": WRONG,
        "DTR_TOKEN": "",
    }
    run = run_session(
        tmp_path,
        "--to-version=2.6.4",
        f"--dtr-ca={ca_file}",
        "--api-attempts=1",
        f"--ucp-url=https://127.0.0.1:{closed_port()}",
        env=env,
        target=server.url.removeprefix("https://"),
    )
    assert run.result["verdict"] == "NO-GO"
    (check,) = run.checks("PRE-CREDENTIALS")
    assert expected in check["message"], check["message"]
    assert "\n" not in check["message"]
    assert_clean(run, WRONG)
