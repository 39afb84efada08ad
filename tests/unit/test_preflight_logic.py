"""Unit tests of the preflight logic behind the checks: backup, certificate, image, node facts."""

from __future__ import annotations

import io
import ssl
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import BaseRequestHandler, ThreadingTCPServer
from types import SimpleNamespace
from typing import Any

import docker
import pytest
import trustme

from upgrade.clients.errors import TargetUnreachable, TLSVerificationFailed
from upgrade.clients.http import DTR
from upgrade.clients.tls import peer_certificate
from upgrade.cluster.backup import BackupUnreadable, inspect
from upgrade.cluster.images import bootstrapper_image, in_registry, on_engine, on_host
from upgrade.cluster.nodes import NodeUnreachable, gather
from upgrade.procedure.bootstrapper import DockerEngineUnreachable
from upgrade.rules.versions import Version


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


class TestBackup:
    def test_reads_version_layout_and_digest(self, tmp_path: Path) -> None:
        path = write_tar(
            tmp_path / "b.tar",
            {
                "dtr-backup-v2.5.11/rethink/properties/0": b"x" * 100,
                "dtr-backup-v2.5.11/meta": b"m",
            },
        )
        info = inspect(path)
        assert info.version == "2.5.11"
        assert info.has_rethink
        assert info.members == 2
        assert len(info.sha256) == 64
        assert info.age(datetime.now(UTC)) < 60

    def test_truncated_archive_is_unreadable(self, tmp_path: Path) -> None:
        path = write_tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/x": b"y" * 4096})
        data = path.read_bytes()
        path.write_bytes(data[:700])
        with pytest.raises(BackupUnreadable, match="damaged or incomplete"):
            inspect(path)

    def test_missing_file_says_take_a_backup(self, tmp_path: Path) -> None:
        with pytest.raises(BackupUnreadable, match="no such file; take a DTR backup first"):
            inspect(tmp_path / "none.tar")

    def test_other_tar_has_no_version(self, tmp_path: Path) -> None:
        info = inspect(write_tar(tmp_path / "b.tar", {"etc/hosts": b"127.0.0.1"}))
        assert info.version is None
        assert not info.has_rethink


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serve_tls(context: ssl.SSLContext) -> Iterator[int]:
    class Handler(BaseRequestHandler):
        def handle(self) -> None:
            try:
                with context.wrap_socket(self.request, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    server = ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class TestCertificate:
    def test_expiry_and_names_of_a_verified_certificate(
        self, ca: trustme.CA, tmp_path: Path
    ) -> None:
        not_after = datetime.now(UTC) + timedelta(days=3)
        cert = ca.issue_cert("127.0.0.1", not_after=not_after)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        for port in serve_tls(context):
            info = peer_certificate(f"https://127.0.0.1:{port}", str(ca_file), DTR)
            assert info.verified
            assert "127.0.0.1" in info.names
            assert 2.9 < info.days_left(datetime.now(UTC)) <= 3

    def test_untrusted_certificate_names_the_option(self, ca: trustme.CA) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        for port in serve_tls(context):
            with pytest.raises(TLSVerificationFailed, match="--dtr-ca FILE"):
                peer_certificate(f"https://127.0.0.1:{port}", True, DTR)
            info = peer_certificate(f"https://127.0.0.1:{port}", False, DTR)
            assert not info.verified

    def test_refused_connection_names_host_and_port(self) -> None:
        with pytest.raises(TargetUnreachable, match=r"cannot reach DTR at 127\.0\.0\.1:1"):
            peer_certificate("https://127.0.0.1:1", True, DTR)


class FakeImages:
    def __init__(self, present: set[str], remote: set[str], error: Exception | None = None) -> None:
        self.present = present
        self.remote = remote
        self.error = error

    def get(self, name: str) -> Any:
        if self.error:
            raise self.error
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return SimpleNamespace(id="sha256:local")

    def get_registry_data(self, name: str) -> Any:
        if self.error:
            raise self.error
        if name not in self.remote:
            raise docker.errors.NotFound(name)
        return SimpleNamespace(id="sha256:remote")


class FakeClient:
    def __init__(self, images: FakeImages) -> None:
        self.images = images
        self.closed = False

    def close(self) -> None:
        self.closed = True


class TestImages:
    def test_image_name_from_override_or_catalogue(self) -> None:
        class Catalogue:
            def image_for(self, version: Version) -> str:
                return f"docker/dtr:{version}"

        version = Version.parse("2.6.4")
        assert bootstrapper_image(version, Catalogue(), None) == "docker/dtr:2.6.4"  # type: ignore[arg-type]
        assert bootstrapper_image(version, Catalogue(), "reg.local/dtr") == "reg.local/dtr:2.6.4"  # type: ignore[arg-type]

    def test_registry_manifest_without_pull(self) -> None:
        client = FakeClient(FakeImages(set(), {"docker/dtr:2.6.4"}))
        found = in_registry("docker/dtr:2.6.4", lambda: client)
        assert found.digest == "sha256:remote"
        assert found.found
        assert client.closed
        missing = in_registry("docker/dtr:2.6.9", lambda: FakeClient(FakeImages(set(), set())))
        assert not missing.found
        assert missing.problem is not None
        assert "the registry has no docker/dtr:2.6.9" in missing.problem
        assert "answered 404" in missing.problem

    def test_offline_image_must_be_loaded(self) -> None:
        found = on_engine(
            "docker/dtr:2.6.4", lambda: FakeClient(FakeImages({"docker/dtr:2.6.4"}, set()))
        )
        assert found.digest == "sha256:local"
        missing = on_engine("docker/dtr:2.6.4", lambda: FakeClient(FakeImages(set(), set())))
        assert not missing.found
        assert "docker load" in str(missing.problem)

    def test_engine_unreachable(self) -> None:
        def broken() -> Any:
            raise docker.errors.DockerException("Error while fetching server API version")

        with pytest.raises(DockerEngineUnreachable, match="set DOCKER_HOST"):
            in_registry("docker/dtr:2.6.4", broken)

    def test_image_on_host(self) -> None:
        host = FakeHost({"docker image inspect": (0, "sha256:abc\n")})
        assert on_host("ssh://n1", "docker/dtr:2.6.4", lambda spec: host).digest == "sha256:abc"
        host = FakeHost({"docker image inspect": (1, "")})
        missing = on_host("ssh://n1", "docker/dtr:2.6.4", lambda spec: host)
        assert not missing.found
        assert "not loaded on ssh://n1" in str(missing.problem)
        assert "`docker image inspect docker/dtr:2.6.4` exited 1" in str(missing.problem)
        # A node that cannot be reached is a problem naming it, never a crash or a repr.
        down = on_host("ssh://n1", "docker/dtr:2.6.4", lambda spec: FakeHost({}, fail=True))
        assert not down.found
        assert "ssh: connect to host n1 port 22: Connection refused" in str(down.problem)
        assert "CommandResult" not in str(down.problem)


MEMINFO = "MemTotal:       32000000 kB\nMemAvailable:   20971520 kB\n"


class FakeHost:
    """A testinfra host double answering commands by their prefix."""

    def __init__(self, answers: dict[str, tuple[int, str]], fail: bool = False) -> None:
        self.answers = answers
        self.fail = fail

    def _answer(self, command: str, *args: str) -> tuple[int, str]:
        if self.fail:
            raise RuntimeError("ssh: connect to host n1 port 22: Connection refused")
        for prefix, answer in self.answers.items():
            if command.startswith(prefix):
                return answer
        raise AssertionError(f"unexpected command {command!r}")

    def run(self, command: str, *args: str) -> Any:
        rc, out = self._answer(command, *args)
        return SimpleNamespace(rc=rc, stdout=out)

    def check_output(self, command: str, *args: str) -> str:
        rc, out = self._answer(command, *args)
        assert rc == 0
        return out.strip()

    def file(self, path: str) -> Any:
        if self.fail:
            raise RuntimeError("ssh: connect to host n1 port 22: Connection refused")
        return SimpleNamespace(content_string=MEMINFO, is_directory=True)


class TestNodes:
    def test_facts(self) -> None:
        host = FakeHost(
            {
                "hostname": (0, "node1\n"),
                "cat /proc/meminfo": (0, MEMINFO),
                "test -d": (0, ""),
                "df": (
                    0,
                    "Filesystem 1-blocks Used Available Capacity Mounted\n/dev/sda1 100 50 "
                    f"{20 * 2**30} 50% /\n",
                ),
                "docker version": (0, "20.10.7\n"),
                "date": (0, "1000.5\n"),
            }
        )
        facts = gather("ssh://node1", clock=lambda: 1000.0, get_host=lambda spec: host)
        assert facts.hostname == "node1"
        assert facts.mem_available_bytes == 20971520 * 1024
        assert facts.mem_total_bytes == 32000000 * 1024
        assert facts.mem_total_gb == pytest.approx(32.768)
        assert facts.disk_free_gb == pytest.approx(20.0)
        assert facts.engine_version == "20.10.7"
        assert facts.clock_offset_s == pytest.approx(0.5)

    def test_unreachable_node_is_one_line(self) -> None:
        with pytest.raises(NodeUnreachable, match="cannot read facts from host ssh://n1: ssh"):
            gather("ssh://n1", get_host=lambda spec: FakeHost({}, fail=True))
