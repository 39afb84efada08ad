"""The container image: built on the lab engine from the engine tier's Debian base (no public
registry is reachable), a session run from it with `docker run ... --apply` against a lab in
this process ends UPGRADED, as a non-root user, with the bundle in the mounted folder and the
secrets passed by environment only.

The bootstrapper the session starts runs on the engine's bridge network, as on a real cluster,
where UCP is reachable at a routable address. The lab's UCP listens on loopback only, so the
test puts UCP on the bridge's gateway: a TLS relay with its own certificate for that address
(its CA is the session's --ucp-ca) that forwards each connection to the lab's UCP.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import trustme

from dtrlab.engine.images import ensure_base
from dtrlab.engine.lab import EngineLab
from dtrlab.engine.settings import EngineSettings
from tests.engine.support import FROM_VERSION, TO_VERSION

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "dtr-upgrade-harness:engine-test"
IMAGE_UID = 10001
WHEELS_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 300
RELAY_IO_TIMEOUT_S = 30.0
SECRET_VARIABLES = ("DTR_USERNAME", "DTR_PASSWORD", "UCP_USERNAME", "UCP_PASSWORD")


def _missing(reason: str) -> None:
    text = f"{reason}; run scripts/engine-up (as root) to start the engine tier"
    if os.environ.get("CI") == "1":
        pytest.fail(f"CI=1 and the engine tier is missing: {text}", pytrace=False)
    pytest.skip(text)


def _run(argv: list[str], timeout_s: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run `argv` bounded by `timeout_s`; a timeout fails the test with the command."""
    try:
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"")[-4000:].decode(errors="replace")
        pytest.fail(f"{' '.join(argv[:3])} did not finish within {timeout_s:g} s:\n{output}")


@pytest.fixture(scope="module")
def docker_cli(engine: EngineSettings) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the docker CLI (`docker build`, `docker run`, as the README documents them) against
    the lab's engine."""
    program = shutil.which("docker")
    if program is None:
        _missing("the docker CLI is not installed (Debian package docker.io)")
    assert program is not None
    env = {**os.environ, "DOCKER_HOST": engine.docker_host}

    def docker(*args: str, timeout_s: float, env_extra: dict[str, str] | None = None) -> Any:
        return _run([program, *args], timeout_s, env={**env, **(env_extra or {})})

    return docker


@pytest.fixture(scope="module")
def image(
    engine: EngineSettings, docker_client: Any, docker_cli: Callable[..., Any]
) -> Iterator[str]:
    """The harness's image, built from this checkout as the README says (wheels made here,
    `docker build` without network) on the engine's local Debian base; removed afterwards."""
    base = ensure_base(docker_client, engine)
    wheels = ROOT / "build" / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    made = _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), ".", "pip"],
        WHEELS_TIMEOUT_S,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    built = docker_cli(
        "build",
        "--build-arg",
        f"BASE={base}",
        "--network",
        "none",
        "-t",
        IMAGE,
        str(ROOT),
        timeout_s=BUILD_TIMEOUT_S,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    yield IMAGE
    docker_cli("rmi", "--force", IMAGE, timeout_s=120)


class UCPRelay:
    """A TLS listener on `host` (certificate from its own CA) that forwards every connection to
    the lab's UCP on 127.0.0.1:`upstream_port`, verified with the lab's CA."""

    def __init__(self, host: str, upstream_port: int, upstream_ca_pem: str) -> None:
        self.ca = trustme.CA(organization_name="image test", organization_unit_name="UCP relay")
        self._server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(host, common_name="ucp").configure_cert(self._server)
        self._client = ssl.create_default_context(cadata=upstream_ca_pem)
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.url = f"https://{host}:{self._listener.getsockname()[1]}"
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> UCPRelay:
        """Accept connections in a background thread."""
        self._spawn(self._accept)
        return self

    def close(self) -> None:
        """Stop accepting; every connection ends within a poll interval."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._forward, conn)

    def _forward(self, conn: socket.socket) -> None:
        conn.settimeout(RELAY_IO_TIMEOUT_S)
        try:
            with (
                self._server.wrap_socket(conn, server_side=True) as downstream,
                self._client.wrap_socket(
                    socket.create_connection(self._upstream, timeout=RELAY_IO_TIMEOUT_S),
                    server_hostname=self._upstream[0],
                ) as upstream,
            ):
                self._pump(downstream, upstream)
        except OSError:
            # A client that gives up mid-handshake or a reset: the client sees it, not the relay.
            conn.close()

    def _pump(self, a: ssl.SSLSocket, b: ssl.SSLSocket) -> None:
        # One thread per connection reads and writes both sides: an SSL object must not be
        # used by two threads at once.
        peer = {a: b, b: a}
        while not self._closed.is_set():
            ready = [s for s in (a, b) if s.pending()]
            if not ready:
                ready = select.select([a, b], [], [], 0.2)[0]
            for side in ready:
                # Readable may mean TLS records without data (a TLS 1.3 session ticket): read
                # without waiting, or the relay would block on this side while the other talks.
                side.setblocking(False)
                try:
                    data = side.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                finally:
                    side.settimeout(RELAY_IO_TIMEOUT_S)
                if not data:
                    return
                peer[side].sendall(data)


def _bridge_gateway(docker_client: Any) -> str:
    """The address the engine's bridge containers reach this machine at."""
    try:
        config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    except (docker.errors.NotFound, KeyError, IndexError, TypeError):
        _missing("the engine has no bridge network (is dockerd running with --bridge=none?)")
        raise
    gateway = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    return str(gateway)


@pytest.fixture
def ucp_relay(
    make_engine_lab: Callable[..., EngineLab], docker_client: Any
) -> Iterator[tuple[EngineLab, UCPRelay]]:
    """An engine lab and its UCP on the bridge's gateway.

    The engine lab recreates a replica's containers only after the cluster reports the replica
    on its new version, so right after the last swap they lag by a container start, which a
    real DTR's bootstrapper never shows. The last replica warming for a few seconds
    (slow-replica) makes the session's settle wait cover that lag.
    """
    lab = make_engine_lab(swap_time=1.0, scenarios=("slow-replica",), slow_replica_time=5.0)
    relay = UCPRelay(_bridge_gateway(docker_client), lab.ucp_listener.port, lab.ca_pem).start()
    yield lab, relay
    relay.close()


def test_a_session_from_the_image_upgrades_the_lab(
    tmp_path: Path,
    engine: EngineSettings,
    image: str,
    docker_cli: Callable[..., subprocess.CompletedProcess[str]],
    ucp_relay: tuple[EngineLab, UCPRelay],
) -> None:
    lab, relay = ucp_relay
    reports = tmp_path / "reports"
    certs = tmp_path / "certs"
    reports.mkdir()
    certs.mkdir()
    # The image's user writes the bundle; the folder is the operator's.
    reports.chmod(0o777)
    (certs / "dtr-ca.pem").write_text(lab.ca_pem, encoding="ascii")
    (certs / "ucp-ca.pem").write_text(relay.ca.cert_pem.bytes().decode("ascii"), encoding="ascii")
    backup = lab.provide_backup(tmp_path / "backup")
    assert backup is not None
    creds = lab.credentials
    secrets = {
        "DTR_USERNAME": creds.username,
        "DTR_PASSWORD": creds.password,
        "UCP_USERNAME": creds.ucp_username,
        "UCP_PASSWORD": creds.ucp_password,
    }
    engine_access = ["-e", f"DOCKER_HOST={engine.docker_host}"]
    if engine.socket_path is not None:
        socket_path = str(engine.socket_path)
        engine_access += ["-v", f"{socket_path}:{socket_path}"]
        engine_access += ["--group-add", str(engine.socket_path.stat().st_gid)]
    name = f"dtr-upgrade-image-test-{uuid.uuid4().hex[:8]}"
    argv = [
        "run",
        "--name",
        name,
        "--network",
        "host",
        "-v",
        f"{reports}:/reports",
        "-v",
        f"{certs}:/certs:ro",
        "-v",
        f"{backup}:/backup/dtr-backup.tar:ro",
        *engine_access,
        *[arg for variable in SECRET_VARIABLES for arg in ("-e", variable)],
        image,
        f"--target={lab.url}",
        f"--to-version={TO_VERSION}",
        "--apply",
        f"--ucp-url={relay.url}",
        "--dtr-ca=/certs/dtr-ca.pem",
        "--ucp-ca=/certs/ucp-ca.pem",
        "--backup=/backup/dtr-backup.tar",
        f"--dtr-image={engine.registry}/docker/dtr",
        *[f"--replica-url={rid}={url}" for rid, url in sorted(lab.replica_urls.items())],
    ]
    for secret in secrets.values():
        assert secret not in " ".join(argv)
    try:
        run = docker_cli(*argv, timeout_s=RUN_TIMEOUT_S, env_extra=secrets)
    finally:
        docker_cli("rm", "--force", name, timeout_s=60)
    output = run.stdout + run.stderr

    assert run.returncode == 0, output
    assert output.rstrip().splitlines()[-1].startswith("VERDICT: UPGRADED"), output
    bundle = (reports / "latest").resolve()
    assert bundle.parent == reports.resolve()
    result = json.loads((bundle / "result.json").read_text())
    assert result["verdict"] == "UPGRADED"
    assert result["from_version"] == FROM_VERSION
    assert result["upgrade"]["image"] == f"{engine.registry}/docker/dtr:{TO_VERSION}"
    assert set(lab.replica_versions().values()) == {TO_VERSION}
    assert (bundle / "junit.xml").is_file()
    assert bundle.stat().st_uid == IMAGE_UID
    for path in bundle.iterdir():
        text = path.read_text(errors="replace")
        for variable in ("DTR_PASSWORD", "UCP_PASSWORD"):
            assert secrets[variable] not in text, f"{variable} leaked into {path.name}"

    verified = _run(
        [str(Path(sys.executable).with_name("dtr-upgrade")), "verify-bundle", str(bundle)], 60
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
