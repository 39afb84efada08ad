"""The domain rules the checks apply, each defined once in upgrade/: blocking jobs, the
metadata migration, Docker engine versions, a replica's services, cluster_status problems,
the backup reading, admin access and where bootstrapper images are looked for."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.fakejobs import make_job
from tests.unit.test_preflight_logic import write_tar
from upgrade.clients.dtr_records import ClusterStatus
from upgrade.cluster import access, backup, containers, health, job_rules, nodes
from upgrade.cluster.containers import ContainerState
from upgrade.cluster.images import EngineImages, ImageLookup
from upgrade.cluster.lab import LabImages
from upgrade.rules.versions import Version

V25 = Version.parse("2.5.11")
V26 = Version.parse("2.6.4")


def test_garbage_collection_and_migrations_block_the_upgrade() -> None:
    running = [
        make_job("1", "gc", "running"),
        make_job("2", "scan_check", "running"),
        make_job("3", job_rules.METADATA_MIGRATION, "running"),
        make_job("4", "ro_registry", "running"),
    ]
    assert [job.id for job in job_rules.blocking_jobs(running)] == ["1", "3", "4"]
    assert job_rules.METADATA_MIGRATION == "metadatastoremigration"
    assert job_rules.METADATA_MIGRATION in job_rules.BLOCKING_ACTIONS


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ("19.03.12", (19, 3, 12)),
        ("20.10.24+dfsg1", (20, 10, 24)),
        ("18.09.7-ce", (18, 9, 7)),
        (" 23.0.1\n", (23, 0, 1)),
    ],
)
def test_engine_release_reads_zero_padded_versions(text: str, release: tuple[int, ...]) -> None:
    assert nodes.engine_release(text) == release


def test_engine_at_least_compares_releases_not_strings() -> None:
    assert nodes.engine_at_least("20.10.24+dfsg1", "19.03.0")
    assert nodes.engine_at_least("19.03.0", "19.03")
    assert not nodes.engine_at_least("18.09.7-ce", "19.03.0")
    assert not nodes.engine_at_least("9.10.0", "19.03.0")


def state(service: str) -> ContainerState:
    return ContainerState(f"dtr-{service}-000000000001", service, "running", "2.6.4", "img")


def test_every_service_is_expected_from_2_6_on() -> None:
    assert containers.expected_services(V26) == containers.EXPECTED_SERVICES
    assert containers.expected_services(Version.parse("3.0.0")) == containers.EXPECTED_SERVICES
    assert containers.expected_services(V25) == ()


def test_missing_services_are_those_without_a_container() -> None:
    found = [state(s) for s in containers.EXPECTED_SERVICES if s != "garant"]
    assert containers.missing_services(found, V26) == ["garant"]
    assert containers.missing_services([], V25) == []
    everything = [state(s) for s in containers.EXPECTED_SERVICES]
    assert containers.missing_services(everything, V26) == []


def status(**changes: Any) -> ClusterStatus:
    fields: dict[str, Any] = {
        "replica_health": {"000000000001": "OK", "000000000002": "OK"},
        "current_issues": (),
        "tables_not_ready": (),
        "replica_readonly": {},
        "gc_lock_holder": "",
        "raw": {},
    }
    return ClusterStatus(**{**fields, **changes})


def test_a_healthy_cluster_status_has_no_problem() -> None:
    assert health.status_problems(status()) == []


def test_cluster_status_problems_name_replicas_issues_and_tables() -> None:
    problems = health.status_problems(
        status(
            replica_health={"000000000001": "OK", "000000000002": "DOWN"},
            current_issues=({"type": "table_availability"},),
            tables_not_ready=("dtr2.tags", "dtr2.manifests"),
        )
    )
    assert problems == [
        "replica 000000000002: DOWN",
        "1 critical RethinkDB current issue(s) (table_availability)",
        "tables not ready: dtr2.tags, dtr2.manifests",
    ]


def test_a_backup_reading_of_a_dtr_backup(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/properties/0": b"y"})
    old = datetime.now(UTC) - timedelta(days=3)
    os.utime(path, (old.timestamp(), old.timestamp()))
    reading = backup.read(path)
    assert reading.problem is None
    assert reading.is_dtr_backup
    assert reading.info is not None
    assert reading.info.version == "2.5.11"
    assert reading.modified_at is not None
    assert abs((reading.modified_at - old).total_seconds()) < 1


def test_a_damaged_backup_keeps_its_age_and_says_why(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/x": b"y" * 4096})
    path.write_bytes(path.read_bytes()[:700])
    reading = backup.read(path)
    assert reading.info is None
    assert not reading.is_dtr_backup
    assert reading.modified_at is not None
    assert "damaged or incomplete" in str(reading.problem)


def test_a_missing_backup_has_no_age(tmp_path: Path) -> None:
    reading = backup.read(tmp_path / "none.tar")
    assert reading.modified_at is None
    assert "no such file" in str(reading.problem)


def test_another_tar_is_not_a_dtr_backup(tmp_path: Path) -> None:
    reading = backup.read(write_tar(tmp_path / "b.tar", {"etc/hosts": b"127.0.0.1"}))
    assert reading.problem is None
    assert not reading.is_dtr_backup


class FakeHttp:
    """The part of the DTR client's HTTP session admin_access uses."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.closed = False

    def request(self, method: str, path: str, *, expect: Any) -> Any:
        assert (method, path) == ("GET", access.ADMIN_ENDPOINT)
        assert 401 in expect
        assert 403 in expect
        return SimpleNamespace(status_code=self.status, close=self.close)

    def close(self) -> None:
        self.closed = True

    def status_error(self, response: Any) -> Exception:
        return RuntimeError(f"DTR refused admin with {response.status_code}")


@pytest.mark.parametrize(("status_code", "accepted"), [(200, True), (401, False), (403, False)])
def test_admin_access_is_the_status_of_an_admin_only_endpoint(
    status_code: int, accepted: bool
) -> None:
    http = FakeHttp(status_code)
    answer = access.admin_access(SimpleNamespace(http=http))  # type: ignore[arg-type]
    assert answer.accepted is accepted
    assert answer.status == status_code
    assert answer.endpoint == "GET /api/v0/meta/settings"
    assert answer.problem == ("" if accepted else f"DTR refused admin with {status_code}")
    assert http.closed


def test_the_lab_has_the_bootstrappers_of_the_versions_it_knows() -> None:
    images = LabImages(lambda version: version == "2.6.4")
    assert images.look_up(V26) == [ImageLookup("dtrlab/dtr:2.6.4", "lab", "")]
    (unknown,) = images.look_up(Version.parse("2.6.9"))
    assert not unknown.found
    assert "the lab has no bootstrapper for 2.6.9" in str(unknown.problem)


def test_engine_images_ask_the_registry_or_offline_the_engine_and_every_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from upgrade.cluster import images

    asked: list[tuple[str, str]] = []

    def looked(where: str) -> Any:
        def look(*args: str) -> ImageLookup:
            asked.append((where, args[-1]))
            return ImageLookup(args[-1], where, "sha256:1")

        return look

    monkeypatch.setattr(images, "in_registry", looked("registry"))
    monkeypatch.setattr(images, "on_engine", looked("engine"))
    monkeypatch.setattr(images, "on_host", looked("host"))
    online = EngineImages(lambda v: f"docker/dtr:{v}", offline=False, hosts=("ssh://n1",))
    assert [lookup.where for lookup in online.look_up(V26)] == ["registry"]
    offline = EngineImages(lambda v: f"reg/dtr:{v}", offline=True, hosts=("ssh://n1", "ssh://n2"))
    assert [lookup.where for lookup in offline.look_up(V26)] == ["engine", "host", "host"]
    assert asked[-1] == ("host", "reg/dtr:2.6.4")
