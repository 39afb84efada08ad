"""The harness's DockerExecutor on the real engine: pull from the real registry, run the real
bootstrapper image, and the lab's replica containers replaced one replica at a time."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import docker
import pytest

from dtrlab.engine.images import push
from dtrlab.engine.lab import EngineLab
from dtrlab.engine.settings import REPLICA_LABEL, VERSION_LABEL, EngineSettings
from tests.engine.support import FROM_VERSION, TO_VERSION
from upgrade.procedure.bootstrapper import BootstrapperRequest, PullProgress
from upgrade.procedure.docker_executor import CONTAINER_LABEL, DockerExecutor

TIMEOUT_S = 120.0


def request_for(lab: EngineLab, version: str = TO_VERSION, **overrides: Any) -> BootstrapperRequest:
    """The harness's request for the lab's bootstrapper of `version`, verifying UCP's CA."""
    creds = lab.credentials
    values: dict[str, Any] = {
        "image": lab.bootstrapper_image(version),
        "target_version": version,
        "ucp_url": lab.ucp_url,
        "ucp_username": creds.ucp_username,
        "ucp_password": creds.ucp_password,
        "existing_replica_id": next(iter(lab.replica_urls)),
        "ucp_ca_pem": lab.ca_pem,
    }
    return BootstrapperRequest(**{**values, **overrides})


def engine_containers(client: Any, lab: EngineLab) -> dict[str, tuple[str, str, str, str]]:
    """name -> (id, image, version label, status) of the lab's replica containers."""
    found = {}
    # A sparse listing, then one inspect per container: a container of another session on
    # the shared engine may be removed between the two, which is not this lab's business.
    for summary in client.containers.list(all=True, sparse=True):
        try:
            container = client.containers.get(summary.id)
        except docker.errors.NotFound:
            continue
        labels = container.labels or {}
        if labels.get(REPLICA_LABEL) in lab.replica_urls:
            found[container.name] = (
                container.id,
                container.attrs["Config"]["Image"],
                labels.get(VERSION_LABEL, ""),
                container.status,
            )
    return found


def test_pulls_the_bootstrapper_from_the_registry(
    engine: EngineSettings, docker_client: Any, client_factory: Callable[[], Any]
) -> None:
    # A tag the engine has never seen locally, so prepare() must fetch it from the registry.
    reference = f"{engine.registry}/dtrlab/pull-check:{uuid.uuid4().hex[:12]}"
    repository, tag = reference.rsplit(":", 1)
    docker_client.images.get(engine.bootstrapper_image(TO_VERSION)).tag(repository, tag)
    pushed = push(docker_client, reference)
    docker_client.images.remove(reference)
    events: list[PullProgress] = []
    with DockerExecutor(client_factory, on_progress=events.append) as executor:
        info = executor.prepare(
            BootstrapperRequest(
                image=reference,
                target_version=TO_VERSION,
                ucp_url="https://127.0.0.1:1",
                ucp_username="admin",
                ucp_password="unused-secret",
                ucp_insecure_tls=True,
            )
        )
    try:
        assert info.pulled
        assert info.digest_source == "registry"
        assert info.digest == pushed
        assert any(e.status.startswith("Digest: ") or "Downloaded" in e.status for e in events)
    finally:
        docker_client.images.remove(reference)


def test_offline_refuses_an_image_the_engine_lacks(client_factory: Callable[[], Any]) -> None:
    from upgrade.procedure.bootstrapper import BootstrapperImageMissing

    request = BootstrapperRequest(
        image=f"127.0.0.1:5000/dtrlab/absent:{uuid.uuid4().hex[:8]}",
        target_version=TO_VERSION,
        ucp_url="https://127.0.0.1:1",
        ucp_username="admin",
        ucp_password="unused-secret",
        ucp_insecure_tls=True,
    )
    with (
        DockerExecutor(client_factory, offline=True) as executor,
        pytest.raises(BootstrapperImageMissing, match="--offline forbids pulling"),
    ):
        executor.prepare(request)


def test_upgrade_replaces_each_replicas_containers_one_at_a_time(
    make_engine_lab: Callable[..., EngineLab],
    docker_client: Any,
    client_factory: Callable[[], Any],
) -> None:
    lab = make_engine_lab()
    before = engine_containers(docker_client, lab)
    assert len(before) == 8 * len(lab.replica_urls)  # 2.5 replicas have no scanningstore
    assert {v[2] for v in before.values()} == {FROM_VERSION}
    assert {v[3] for v in before.values()} == {"running"}
    lines: list[str] = []
    with DockerExecutor(client_factory, network_mode="host") as executor:
        request = request_for(lab)
        info = executor.prepare(request)
        result = executor.run(request, lines.append, TIMEOUT_S)
    assert result.ok, (result.describe(), lines)
    assert info.digest.startswith("sha256:")
    assert any("Upgrade is complete" in line for line in lines)
    assert not any(lab.credentials.ucp_password in line for line in lines)
    # The executor removed its bootstrapper container.
    assert not docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})

    evidence = lab.engine_evidence()
    after = engine_containers(docker_client, lab)
    assert len(after) == 9 * len(lab.replica_urls)
    assert {v[2] for v in after.values()} == {TO_VERSION}
    assert {v[3] for v in after.values()} == {"running"}
    assert not {v[0] for v in before.values()} & {v[0] for v in after.values()}
    assert all(v[1].endswith(f":{TO_VERSION}") for v in after.values())
    upgrades = [r for r in evidence["replacements"] if r["from_version"] == FROM_VERSION]
    assert sorted(r["replica"] for r in upgrades) == sorted(lab.replica_urls)
    for replacement in upgrades:
        old_ids = {c["id"] for c in replacement["old"]}
        assert old_ids == {before[c["name"]][0] for c in replacement["old"] if c["name"] in before}
        assert {c["id"] for c in replacement["new"]} <= {v[0] for v in after.values()}
    # One replica at a time: a replica's swap began after the previous one was back.
    ordered = sorted(upgrades, key=lambda r: r["removed_at"])
    for earlier, later in itertools.pairwise(ordered):
        assert earlier["created_at"] <= later["removed_at"]
    assert evidence["errors"] == []


def test_a_crashed_upgrade_resumes_through_a_second_docker_run(
    make_engine_lab: Callable[..., EngineLab],
    docker_client: Any,
    client_factory: Callable[[], Any],
) -> None:
    lab = make_engine_lab(scenarios=("upgrade-crash",))
    with DockerExecutor(client_factory, network_mode="host") as executor:
        request = request_for(lab)
        executor.prepare(request)
        first = executor.run(request, lambda _: None, TIMEOUT_S)
        assert not first.ok
        assert first.exit_code != 0 or first.fatal
        partly = lab.replica_versions()
        assert sorted(partly.values()).count(TO_VERSION) in (1, 2), partly
        second_lines: list[str] = []
        second = executor.run(request, second_lines.append, TIMEOUT_S)
    assert second.ok, (second.describe(), second_lines)
    assert set(lab.replica_versions().values()) == {TO_VERSION}
    resumed = [r for r in lab.engine_evidence()["replacements"] if r["from_version"]]
    assert sorted(r["replica"] for r in resumed) == sorted(lab.replica_urls)
    after = engine_containers(docker_client, lab)
    assert {v[2] for v in after.values()} == {TO_VERSION}
    assert not docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
