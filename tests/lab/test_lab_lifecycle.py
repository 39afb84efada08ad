"""Starting, reaching and stopping the lab: TLS, credentials, ports, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import requests
import trustme

from dtrlab import Lab, LabConfig, LabConfigError, LabError, parse_scenarios
from dtrlab.config import Credentials
from tests.lab.conftest import LineReader, session_for

CLI_TIMEOUT_S = 30


def test_lab_starts_fast_and_stops_cleanly() -> None:
    """Three replicas with demo data start in under a second; after close every port refuses
    connections and no lab thread is left."""
    started = time.perf_counter()
    lab = Lab(LabConfig()).start()
    elapsed = time.perf_counter() - started
    ports = [lab.lb_listener.port, lab.ucp_listener.port]
    ports += [int(url.rsplit(":", 1)[1]) for url in lab.replica_urls.values()]
    with session_for(lab) as api:
        assert api.get(lab.url + "/_ping", timeout=10).status_code == 200
    lab.close()
    assert elapsed < 1.0
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    lab_threads = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("replica-", "dtr-lb", "ucp", "lab-", "swap-"))
    ]
    assert lab_threads == []


def test_lab_every_listener_presents_a_certificate_from_the_lab_ca(lab: Lab) -> None:
    """Clients verify with ca_path, for 127.0.0.1 and localhost; without it verification fails."""
    for url in [lab.url, lab.ucp_url, *lab.replica_urls.values()]:
        port = int(url.rsplit(":", 1)[1])
        for host in ("127.0.0.1", "localhost"):
            context = ssl.create_default_context(cafile=str(lab.ca_path))
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
        untrusting = ssl.create_default_context()
        untrusting.load_verify_locations(cadata=trustme.CA().cert_pem.bytes().decode())
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            untrusting.wrap_socket(raw, server_hostname="127.0.0.1")
    with session_for(lab) as api:
        assert api.get(lab.url + "/ca", timeout=10).text == lab.ca_pem
        assert api.get(lab.ucp_url + "/ca", timeout=10).text == lab.ca_pem


def test_lab_credentials_come_from_the_environment() -> None:
    """DTR_* / UCP_* variables win over generated values; the repr shows no secret."""
    env = {
        "DTR_USERNAME": "ops",
        "DTR_PASSWORD": "pw-1",
        "DTR_TOKEN": "tok-1",
        "UCP_PASSWORD": "ucp-pw",
    }
    creds = Credentials.resolve(LabConfig(), env)
    resolved = (creds.username, creds.password, creds.token, creds.ucp_username, creds.ucp_password)
    assert resolved == ("ops", "pw-1", "tok-1", "ops", "ucp-pw")
    generated = Credentials.resolve(LabConfig(), {})
    assert generated.username == "admin"
    assert generated.ucp_password == generated.password
    assert len(generated.password) >= 20
    for secret in (*creds.secrets(), *generated.secrets()):
        assert secret not in repr(creds) + repr(generated)


def test_lab_config_refuses_what_it_cannot_build() -> None:
    """Bad values raise LabConfigError (a ValueError) naming the field."""
    for kwargs, message in (
        ({"replicas": 0}, "replicas"),
        ({"version": "2.5"}, "MAJOR.MINOR.PATCH"),
        ({"version": "2.5.4"}, "not a release the lab knows"),
        ({"swap_time": -1}, "swap_time"),
        ({"port": 70000}, "port"),
        ({"scenarios": ("slowreplica",)}, "slowreplica"),
    ):
        with pytest.raises(LabConfigError, match=message):
            LabConfig(**kwargs)  # type: ignore[arg-type]
    assert parse_scenarios("long-outage, data-loss,long-outage") == ("long-outage", "data-loss")
    assert parse_scenarios("") == ("healthy",)
    assert parse_scenarios("healthy,gc-running") == ("gc-running",)


def test_lab_fixed_port_and_port_in_use() -> None:
    """`port` fixes the load balancer's port; a port already taken is a LabError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Lab(LabConfig(port=port)) as lab:
        assert lab.url == f"https://127.0.0.1:{port}"
        with pytest.raises(LabError, match=str(port)):
            Lab(LabConfig(port=port)).start()


def test_lab_load_balancer_fails_only_without_a_healthy_replica(
    make_lab: Callable[..., Lab],
) -> None:
    """A single unhealthy replica leaves the load balancer nobody to serve: 503 with an error."""
    lab = make_lab(replicas=1, scenarios=("replica-unhealthy",))
    with session_for(lab) as api:
        response = api.get(lab.url + "/_ping", timeout=10)
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "SERVICE_UNAVAILABLE"


def test_lab_replica_refuses_connections_while_swapped(make_lab: Callable[..., Lab]) -> None:
    """During a swap the replica's own listener refuses connections and kept-alive connections
    are reset, while the load balancer keeps answering."""
    lab = make_lab(swap_time=5.0)
    rid, url = next(iter(lab.replica_urls.items()))
    port = int(url.rsplit(":", 1)[1])
    listener = lab.cluster.replicas[rid].listener
    assert listener is not None
    with session_for(lab) as api:
        assert api.get(url + "/_ping", timeout=10).status_code == 200
        swap = threading.Thread(target=lab.upgrade.replace_replica, args=(rid, "2.6.4"))
        swap.start()
        try:
            assert lab.cluster.wait(lambda: lab.cluster.replicas[rid].state == "swapping", 5)
            assert lab.cluster.wait(lambda: not listener.accepting, 5)
            with pytest.raises(requests.ConnectionError):
                api.get(url + "/_ping", timeout=2)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            assert api.get(lab.url + "/_ping", timeout=10).status_code == 200
        finally:
            lab.cluster.closing.set()
            swap.join(10)
    assert lab.replica_versions()[rid] == "2.6.4"


def test_lab_cli_runs_until_interrupted() -> None:
    """`python -m dtrlab` prints the URL, CA path and the variables to export, serves until
    SIGINT, then stops with status 0; a bad scenario is a usage error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTR_", "UCP_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "dtrlab", "--replicas", "2", "--scenario", "gc-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    reader = LineReader(process)
    try:
        reader.until(lambda line: line.startswith("Press Ctrl-C"), CLI_TIMEOUT_S)
        lines = [line.strip() for line in reader.lines]
        text = "\n".join(lines)
        url = next(line.split()[-1] for line in lines if line.startswith("DTR (load balanced):"))
        ca_path = next(line.split()[-1] for line in lines if line.startswith("CA certificate:"))
        password = next(
            line.split("=", 1)[1] for line in lines if line.startswith("export DTR_PASSWORD=")
        )
        assert "lab credentials" in text
        assert "export UCP_USERNAME=admin" in text
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(
                url + "/api/v0/jobs", verify=ca_path, auth=("admin", password), timeout=10
            )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        rest = reader.rest(CLI_TIMEOUT_S)
    finally:
        reader.close()
    assert process.returncode == 0
    assert "DTR lab stopped." in rest
    bad = subprocess.run(
        [sys.executable, "-m", "dtrlab", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown lab scenario(s) nope" in bad.stderr
