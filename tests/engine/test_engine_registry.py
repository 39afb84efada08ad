"""The harness's registry client against the real distribution registry (Debian's
docker-registry, what DTR's registry is built on): catalogue, tags, digests and the canary."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from dtrlab.engine.settings import EngineSettings
from tests.engine.support import FROM_VERSION, TO_VERSION
from upgrade.clients.registry import RegistryClient
from upgrade.clients.secrets import DTRCredentials
from upgrade.cluster.canary import SCHEMA2, build_image, round_trip
from upgrade.errors import HarnessError
from upgrade.evidence.records import utc_now

CREDENTIALS = DTRCredentials.of("admin", password="registry-test-secret")


@pytest.fixture
def registry(engine: EngineSettings) -> Iterator[RegistryClient]:
    """The client on the lab's registry (plain HTTP on loopback, no authentication)."""
    with RegistryClient(f"http://{engine.registry}", CREDENTIALS) as client:
        yield client


def test_catalog_tags_and_digests_match_what_the_engine_pushed(
    registry: RegistryClient, engine: EngineSettings, docker_client: Any
) -> None:
    assert registry.ping() == "registry/2.0"
    assert {"docker/dtr", "docker/dtr-api", "docker/dtr-nginx"} <= set(registry.catalog())
    assert {FROM_VERSION, TO_VERSION} <= set(registry.tags("docker/dtr"))
    image = docker_client.images.get(engine.bootstrapper_image(TO_VERSION))
    engine_digests = {d.partition("@")[2] for d in image.attrs["RepoDigests"]}
    assert registry.manifest_digest("docker/dtr", TO_VERSION) in engine_digests
    manifest = registry.get_manifest("docker/dtr", TO_VERSION)
    assert manifest.digest in engine_digests


def test_canary_round_trip(registry: RegistryClient) -> None:
    result = round_trip(registry, "dtrlab/canary")
    assert result.ok, result.as_dict()
    assert result.digest.startswith("sha256:")
    assert result.cleaned_up


def test_the_engine_pulls_what_the_client_pushed(
    registry: RegistryClient, engine: EngineSettings, docker_client: Any
) -> None:
    canary = build_image(utc_now())
    repository = "dtrlab/canary-pull"
    for blob in (canary.config, canary.layer):
        registry.push_blob(repository, blob)
    digest = registry.put_manifest(repository, canary.tag, canary.manifest, SCHEMA2)
    assert digest == canary.digest
    reference = f"{engine.registry}/{repository}"
    try:
        pulled = docker_client.images.pull(reference, tag=canary.tag)
        assert f"{reference}@{digest}" in pulled.attrs["RepoDigests"]
    finally:
        docker_client.images.remove(f"{reference}:{canary.tag}", force=True)
        registry.delete_manifest(repository, digest)
    assert canary.tag not in registry.tags(repository)


def test_missing_tag_is_a_harness_error(registry: RegistryClient) -> None:
    with pytest.raises(HarnessError):
        registry.manifest_digest("docker/dtr", f"0.0.{uuid.uuid4().int % 1000}")


@pytest.fixture
def tls_registry(tmp_path: Path, engine: EngineSettings) -> Iterator[tuple[str, Path]]:
    """A second distribution registry serving HTTPS with a certificate from a test CA."""
    import socket

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path, ca_path = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"  tls:\n    certificate: {cert_path}\n    key: {key_path}\n",
        encoding="utf-8",
    )
    from dtrlab.engine.daemon import _program

    with (tmp_path / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [_program("docker-registry", "docker-registry"), "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"https://127.0.0.1:{port}"
    try:
        _wait_for(url, ca_path, process)
        yield url, ca_path
    finally:
        process.terminate()
        process.wait(30)


def _wait_for(url: str, ca_path: Path, process: subprocess.Popen[bytes]) -> None:
    import time

    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "docker-registry exited while starting"
        try:
            with requests.get(f"{url}/v2/", verify=str(ca_path), timeout=2) as answer:
                if answer.status_code == 200:
                    return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"docker-registry did not answer at {url} within 30 s")


def test_verified_tls_against_the_real_registry(tls_registry: tuple[str, Path]) -> None:
    url, ca_path = tls_registry
    with RegistryClient(url, CREDENTIALS, verify=str(ca_path)) as client:
        result = round_trip(client, "dtrlab/tls-canary")
        assert result.ok, result.as_dict()
        assert client.catalog() == ["dtrlab/tls-canary"]
    with RegistryClient(url, CREDENTIALS) as untrusting, pytest.raises(HarnessError):
        untrusting.ping()
