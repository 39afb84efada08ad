"""Every API client method against the lab: real TLS, the lab's own CA and credentials."""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from dtrlab import Lab, LabConfig
from upgrade.clients.dtr import DTRClient
from upgrade.clients.errors import APIError, AuthenticationFailed, TLSVerificationFailed
from upgrade.clients.registry import RegistryClient, sha256_digest
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor, UCPCredentials
from upgrade.clients.ucp import UCPClient
from upgrade.cluster.inventory import compare, snapshot

PASSWORD = "lab-Pa55word-for-clients"
TOKEN = "lab-token-0f1e2d3c4b5a"
UCP_PASSWORD = "lab-ucp-Pa55word"
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
NO_WAIT = RetryPolicy(attempts=2, initial_s=0.01, max_wait_s=0.05, jitter_s=0.01)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    config = LabConfig(
        replicas=3,
        # The canary round trip pushes to a new repository.
        scenarios=("create-on-push",),
        username="admin",
        password=PASSWORD,
        token=TOKEN,
        job_time=2.0,
        ucp_username="admin",
        ucp_password=UCP_PASSWORD,
    )
    with Lab(config) as running:
        yield running


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture(scope="module")
def dtr(lab: Lab, redactor: Redactor) -> Iterator[DTRClient]:
    credentials = DTRCredentials.of("admin", password=PASSWORD, token=TOKEN)
    with DTRClient(
        lab.url, credentials, verify=str(lab.ca_path), retry=NO_WAIT, redactor=redactor
    ) as client:
        yield client


@pytest.fixture(scope="module")
def ucp(lab: Lab, redactor: Redactor) -> Iterator[UCPClient]:
    credentials = UCPCredentials.of("admin", UCP_PASSWORD)
    with UCPClient(
        lab.ucp_url, credentials, verify=str(lab.ca_path), retry=NO_WAIT, redactor=redactor
    ) as client:
        yield client


@pytest.fixture(scope="module")
def registry(lab: Lab, redactor: Redactor) -> Iterator[RegistryClient]:
    credentials = DTRCredentials.of("admin", token=TOKEN)
    with RegistryClient(
        lab.url, credentials, verify=str(lab.ca_path), retry=NO_WAIT, redactor=redactor
    ) as client:
        yield client


def test_dtr_health_and_versions_per_replica(lab: Lab, dtr: DTRClient) -> None:
    assert dtr.ping().healthy
    versions = {}
    for replica_id, url in lab.replica_urls.items():
        ping = dtr.ping(url=url)
        assert (ping.healthy, ping.status) == (True, 200), replica_id
        versions[replica_id] = dtr.version(url=url)
    assert versions == lab.replica_versions()
    assert dtr.version() == "2.5.11"


def test_dtr_cluster_status_settings_features(lab: Lab, dtr: DTRClient) -> None:
    status = dtr.cluster_status()
    assert status.healthy, status.raw
    assert set(status.replica_health) == set(lab.replica_urls)
    settings = dtr.settings()
    assert set(settings.replica_ids) == set(lab.replica_urls)
    assert settings.scanning_enabled
    features = dtr.features()
    assert features.scanning_enabled
    assert features.ucp_host


def test_dtr_jobs_crons_and_logs(dtr: DTRClient) -> None:
    submitted = dtr.submit_job("sleep")
    assert submitted.action == "sleep"
    assert not submitted.failed
    listed = dtr.jobs(action="sleep", limit=5)
    assert submitted.id in {job.id for job in listed}
    assert dtr.job(submitted.id).id == submitted.id
    assert isinstance(dtr.job_logs(submitted.id), tuple)
    assert {cron.action for cron in dtr.crons()}


def test_dtr_vulnerability_database(dtr: DTRClient, tmp_path: Path) -> None:
    status = dtr.imagescan_status()
    assert status is not None
    assert not status.last_db_update_failed
    database = tmp_path / "cve.tar"
    with tarfile.open(database, "w") as tar:
        info = tarfile.TarInfo("cve.db")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"test"))
    dtr.update_vuln_db(online=False, file=database)
    [job] = dtr.jobs(action="update_vuln_db", limit=1)
    assert job.raw["parameters"]["online"] == "false"
    with pytest.raises(APIError) as info_:
        dtr.update_vuln_db(online=True)
    assert info_.value.code == "SCANNING_DB_NOT_READY"


def test_dtr_repositories_and_tags(dtr: DTRClient) -> None:
    repositories = dtr.repositories(page_size=2)
    names = {repo.full_name for repo in repositories}
    assert {"admin/alpine", "engineering/api"} <= names
    tags = {tag.name: tag.digest for tag in dtr.tags("admin", "alpine", page_size=1)}
    assert set(tags) == {"3.8", "3.9", "latest"}
    assert tags["latest"] == tags["3.9"]
    assert all(digest.startswith("sha256:") for digest in tags.values())


def test_ucp_client(ucp: UCPClient, lab: Lab) -> None:
    assert ucp.ping().healthy
    assert ucp.version() == "3.1.6"
    assert ucp.config_toml().strip()
    assert ucp.content_trust().required is False
    assert ucp.ca().strip() == lab.ca_pem.strip()


def test_registry_reads_match_the_dtr_api(dtr: DTRClient, registry: RegistryClient) -> None:
    assert registry.ping().startswith("registry/2")
    assert "admin/alpine" in registry.catalog(page_size=2)
    assert set(registry.tags("admin/alpine", page_size=1)) == {"3.8", "3.9", "latest"}
    expected = {tag.name: tag.digest for tag in dtr.tags("admin", "alpine")}
    for tag, digest in expected.items():
        assert registry.manifest_digest("admin/alpine", tag) == digest
    manifest = registry.get_manifest("admin/alpine", expected["3.9"])
    assert manifest.digest == expected["3.9"]
    layers = json.loads(manifest.body).get("layers", [])
    for layer in layers:
        blob = registry.get_blob("admin/alpine", layer["digest"])
        assert sha256_digest(blob) == layer["digest"]


def test_registry_canary_round_trip(registry: RegistryClient) -> None:
    repo = "admin/canary"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    layer = b"canary layer of the client test"
    for blob in (config, layer):
        registry.push_blob(repo, blob)
        assert registry.blob_exists(repo, sha256_digest(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": sha256_digest(layer),
                }
            ],
        }
    ).encode()
    digest = registry.put_manifest(repo, "canary", manifest, SCHEMA2)
    assert digest == sha256_digest(manifest)
    assert registry.manifest_digest(repo, "canary") == digest
    assert registry.get_manifest(repo, digest).body == manifest
    assert registry.get_blob(repo, sha256_digest(layer)) == layer
    registry.delete_manifest(repo, digest)
    assert "canary" not in registry.tags(repo)


def test_inventory_snapshot_of_the_lab(dtr: DTRClient, registry: RegistryClient) -> None:
    first = snapshot(dtr, registry, workers=4)
    assert first["admin/alpine"]["latest"] == first["admin/alpine"]["3.9"]
    assert compare(first, snapshot(dtr, registry, workers=4)).intact


def test_wrong_password_and_untrusted_ca_against_the_lab(
    lab: Lab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = DTRCredentials.of("admin", password="wrong-Pa55word-xyz")
    with (
        caplog.at_level(logging.DEBUG),
        DTRClient(lab.url, wrong, verify=str(lab.ca_path), retry=NO_WAIT) as dtr,
        pytest.raises(AuthenticationFailed, match="check DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN"),
    ):
        dtr.settings()
    wrong_ucp = UCPCredentials.of("admin", "wrong-ucp-Pa55word")
    with (
        UCPClient(lab.ucp_url, wrong_ucp, verify=str(lab.ca_path), retry=NO_WAIT) as ucp,
        pytest.raises(AuthenticationFailed, match="check UCP_USERNAME and UCP_PASSWORD"),
    ):
        ucp.version()
    other_ca = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    right = DTRCredentials.of("admin", password=PASSWORD)
    with (
        DTRClient(lab.url, right, verify=str(other_ca), retry=NO_WAIT) as dtr,
        pytest.raises(TLSVerificationFailed, match="--dtr-ca FILE"),
    ):
        dtr.ping()
    for secret in ("wrong-Pa55word-xyz", "wrong-ucp-Pa55word", PASSWORD):
        assert secret not in caplog.text


def test_no_secret_reaches_the_logs(
    dtr: DTRClient, ucp: UCPClient, registry: RegistryClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        dtr.features()
        ucp.version()
        registry.ping()
    for secret in (PASSWORD, TOKEN, UCP_PASSWORD):
        assert secret not in caplog.text


def _lab_clients(config: LabConfig) -> tuple[Lab, DTRCredentials, UCPCredentials]:
    return (
        Lab(config),
        DTRCredentials.of("admin", password=PASSWORD),
        UCPCredentials.of("admin", UCP_PASSWORD),
    )


def test_content_trust_on_is_read_from_ucp() -> None:
    config = LabConfig(
        scenarios=("content-trust-on",),
        username="admin",
        password=PASSWORD,
        ucp_username="admin",
        ucp_password=UCP_PASSWORD,
    )
    lab, _, ucp_credentials = _lab_clients(config)
    with (
        lab,
        UCPClient(lab.ucp_url, ucp_credentials, verify=str(lab.ca_path), retry=NO_WAIT) as ucp,
    ):
        assert ucp.content_trust().required is True


def test_an_unhealthy_replica_is_a_result_not_an_error() -> None:
    config = LabConfig(
        scenarios=("replica-unhealthy",),
        username="admin",
        password=PASSWORD,
        ucp_username="admin",
        ucp_password=UCP_PASSWORD,
    )
    lab, dtr_credentials, _ = _lab_clients(config)
    with (
        lab,
        DTRClient(lab.url, dtr_credentials, verify=str(lab.ca_path), retry=NO_WAIT) as dtr,
    ):
        pings = {rid: dtr.ping(url=url) for rid, url in lab.replica_urls.items()}
        sick = {rid: ping for rid, ping in pings.items() if not ping.healthy}
        assert len(sick) == 1
        [ping] = sick.values()
        assert ping.status == 503
        assert ping.error
        status = dtr.cluster_status()
        assert set(status.unhealthy_replicas) == set(sick)
        assert not status.healthy
