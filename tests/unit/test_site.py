"""The site's choices: what a real DTR and the built-in lab (process and engine) answer for the
target, the bootstrapper image and executor of a version, the backup, the images preflight looks
for, the replicas' engine and its evidence, and what closing stops."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from upgrade.cluster import target as targets
from upgrade.cluster.engine_evidence import EngineEvidence
from upgrade.cluster.images import EngineImages
from upgrade.cluster.lab import LabImages
from upgrade.cluster.site import LabSite, RealSite, site_for
from upgrade.config.settings import Settings, resolve
from upgrade.procedure.docker_executor import DockerExecutor
from upgrade.procedure.process_executor import SubprocessExecutor
from upgrade.rules.catalog import Catalog
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.versions import Version

V = Version.parse("2.9.4")
EVIDENCE = {"engine": "unix:///engine.sock", "registry": "127.0.0.1:5000", "containers": {}}


def resolved(**values: object) -> Settings:
    return resolve(lambda spec: values.get(spec.dest), {})


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(None)


class FakeLab:
    """What the harness uses of a started lab (dtrlab.Lab or the engine lab)."""

    def __init__(self, directory: Path, backup: Path | None = None) -> None:
        self.directory = directory
        self._backup = backup
        self.exits = 0

    def bootstrapper_argv(self, version: str) -> list[str]:
        return ["python", "-m", "dtrlab.bootstrapper", version]

    def bootstrapper_image(self, version: str) -> str:
        return f"127.0.0.1:5000/dtrlab/dtr:{version}"

    def provide_backup(self, directory: Path) -> Path | None:
        assert directory == self.directory
        return self._backup

    def engine_evidence(self) -> dict[str, Any]:
        return EVIDENCE

    def __exit__(self, *exc: object) -> None:
        self.exits += 1


def started(site: LabSite, lab: FakeLab) -> LabSite:
    site.lab = lab
    return site


def test_site_for_picks_the_lab_only_for_target_lab() -> None:
    assert isinstance(site_for(resolved(target="lab")), LabSite)
    assert isinstance(site_for(resolved(target="dtr.example.com")), RealSite)


# -- a real DTR ---------------------------------------------------------------------------------


def test_real_site_connects_after_one_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    made = SimpleNamespace(dtr_url="https://dtr.example.com", dtr_verify=True)
    shaken: list[str] = []
    monkeypatch.setattr(targets, "from_settings", lambda settings, environ: made)
    monkeypatch.setattr(
        "upgrade.clients.tls.peer_certificate", lambda url, verify, kind: shaken.append(url)
    )
    assert RealSite(resolved(target="dtr.example.com")).connect() is made
    assert shaken == ["https://dtr.example.com"]


def test_real_site_image_is_the_catalogues_or_dtr_image(catalog: Catalog) -> None:
    assert RealSite(resolved(target="d")).bootstrapper_image(V, catalog) == catalog.image_for(V)
    mirrored = RealSite(resolved(target="d", dtr_image="mirror.example.com/dtr"))
    assert mirrored.bootstrapper_image(V, catalog) == "mirror.example.com/dtr:2.9.4"


def test_real_site_runs_one_docker_executor_on_the_clusters_network() -> None:
    site = RealSite(resolved(target="d", offline=True))
    executor = site.executor(V)
    assert isinstance(executor, DockerExecutor)
    assert (executor.network_mode, executor.offline) == (None, True)
    assert site.executor(Version.parse("2.9.5")) is executor
    site.close()
    assert site.executor(V) is not executor


def test_real_site_backup_images_and_engine(tmp_path: Path, catalog: Catalog) -> None:
    backup = tmp_path / "backup.tar"
    backup.write_bytes(b"")
    site = RealSite(
        resolved(target="d", backup=str(backup), hosts="ssh://n1,ssh://n2", offline=True)
    )
    assert site.backup() == backup
    assert RealSite(resolved(target="d")).backup() is None
    images = site.bootstrapper_images(catalog)
    assert isinstance(images, EngineImages)
    assert (images.name(V), images.offline, images.hosts) == (
        catalog.image_for(V),
        True,
        ("ssh://n1", "ssh://n2"),
    )
    assert site.has_engine
    assert site.engine_evidence() is None


# -- the process lab ----------------------------------------------------------------------------


def test_process_lab_runs_its_bootstrapper_program(tmp_path: Path, catalog: Catalog) -> None:
    lab = FakeLab(tmp_path)
    site = started(LabSite(resolved(target="lab", dtr_image="mirror/dtr")), lab)
    assert site.bootstrapper_image(V, catalog) == "dtrlab/dtr:2.9.4"
    executor = site.executor(V)
    assert isinstance(executor, SubprocessExecutor)
    assert executor.argv_prefix == lab.bootstrapper_argv("2.9.4")
    assert isinstance(site.bootstrapper_images(catalog), LabImages)
    assert not site.has_engine
    assert site.engine_evidence() is None


def test_lab_backup_is_the_scenarios_unless_given(tmp_path: Path) -> None:
    provided = tmp_path / "lab-backup.tar"
    site = started(LabSite(resolved(target="lab")), FakeLab(tmp_path, provided))
    assert site.backup() == provided
    assert started(LabSite(resolved(target="lab")), FakeLab(tmp_path)).backup() is None
    given = tmp_path / "given.tar"
    given.write_bytes(b"")
    site = started(LabSite(resolved(target="lab", backup=str(given))), FakeLab(tmp_path, provided))
    assert site.backup() == given


def test_lab_needs_connecting_first(catalog: Catalog) -> None:
    site = LabSite(resolved(target="lab"))
    with pytest.raises(RuntimeError, match="connect the site first"):
        site.executor(V)
    assert site.engine_evidence() is None
    site.close()  # nothing started: nothing to stop


def test_lab_close_stops_the_lab_once(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path)
    site = started(LabSite(resolved(target="lab")), lab)
    site.close()
    site.close()
    assert lab.exits == 1
    assert site.lab is None


# -- the engine lab -----------------------------------------------------------------------------


def test_engine_lab_runs_its_registry_image_on_the_host_network(
    tmp_path: Path, catalog: Catalog
) -> None:
    site = started(LabSite(resolved(target="lab", lab_engine="docker")), FakeLab(tmp_path))
    assert site.bootstrapper_image(V, catalog) == "127.0.0.1:5000/dtrlab/dtr:2.9.4"
    executor = site.executor(V)
    assert isinstance(executor, DockerExecutor)
    assert executor.network_mode == "host"
    assert site.executor(Version.parse("2.9.5")) is executor
    images = site.bootstrapper_images(catalog)
    assert isinstance(images, EngineImages)
    assert images.name(V) == "127.0.0.1:5000/dtrlab/dtr:2.9.4"
    assert site.has_engine
    assert site.engine_evidence() == EngineEvidence.of(EVIDENCE)
