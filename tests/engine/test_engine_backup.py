"""The bootstrapper's `backup` on the real engine: the lab's image (its entry point the lab's
bootstrapper) run by the harness's DockerExecutor as `docker run -i --rm --log-driver none
... backup > FILE`, attached, with its archive on stdout and its log on stderr; and a whole
--lab-engine=docker session with --backup=take."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dtrlab.engine.images import publish
from dtrlab.engine.lab import BOOTSTRAPPER_NETWORK, EngineLab
from dtrlab.engine.settings import EngineSettings
from tests.engine.support import FROM_VERSION, TO_VERSION
from tests.lab.sessions import run_session
from upgrade.cluster.backup import inspect
from upgrade.procedure.backup_run import ArchiveFile
from upgrade.procedure.bootstrapper import BootstrapperRequest
from upgrade.procedure.docker_executor import CONTAINER_LABEL, DockerExecutor

TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def current_images(engine: EngineSettings, docker_client: Any) -> str:
    """The running version's images built from this checkout's lab (its bootstrapper knows
    `backup`) and pushed, so the engine pulls what the code says."""
    (published,) = publish(docker_client, engine, [FROM_VERSION])
    return published.bootstrapper


def _request(lab: EngineLab, image: str) -> BootstrapperRequest:
    creds = lab.credentials
    return BootstrapperRequest(
        image=image,
        target_version=FROM_VERSION,
        ucp_url=lab.ucp_url,
        ucp_username=creds.ucp_username,
        ucp_password=creds.ucp_password,
        existing_replica_id=next(iter(lab.replica_urls)),
        ucp_ca_pem=lab.ca_pem,
        command="backup",
    )


def _leftovers(docker_client: Any, lab: EngineLab) -> list[str]:
    """This lab's bootstrapper containers still on the engine (other sessions may share it)."""
    containers = docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
    return [c.name for c in containers if lab.ucp_url in (c.attrs["Config"].get("Cmd") or [])]


def test_backup_container_prints_a_dtr_backup(
    tmp_path: Path,
    current_images: str,
    make_engine_lab: Callable[..., EngineLab],
    client_factory: Callable[[], Any],
    docker_client: Any,
) -> None:
    lab = make_engine_lab()
    request = _request(lab, current_images)
    archive = ArchiveFile(tmp_path / "b.tar")
    lines: list[str] = []
    with DockerExecutor(client_factory, network_mode=BOOTSTRAPPER_NETWORK) as executor:
        info = executor.prepare(request)
        result = executor.run_backup(request, archive.write, lines.append, TIMEOUT_S)
    archive.close()
    assert result.ok, lines
    assert info.digest.startswith("sha256:")
    assert any("Backing up replica" in line for line in lines), lines
    archive.keep()
    data = (tmp_path / "b.tar").read_bytes()
    assert hashlib.sha256(data).hexdigest() == archive.sha256
    backup = inspect(tmp_path / "b.tar")
    assert backup.version == FROM_VERSION
    assert backup.has_rethink
    assert all(lab.credentials.ucp_password not in line for line in lines)
    assert _leftovers(docker_client, lab) == []


def test_backup_container_failure_is_its_status(
    tmp_path: Path,
    current_images: str,
    make_engine_lab: Callable[..., EngineLab],
    client_factory: Callable[[], Any],
    docker_client: Any,
) -> None:
    lab = make_engine_lab(scenarios=("backup-fails",))
    request = _request(lab, current_images)
    archive = ArchiveFile(tmp_path / "b.tar")
    with DockerExecutor(client_factory, network_mode=BOOTSTRAPPER_NETWORK) as executor:
        result = executor.run_backup(request, archive.write, lambda _: None, TIMEOUT_S)
    archive.discard()
    assert result.exit_code == 1
    assert result.fatal is not None
    assert "Failed to create backup" in result.fatal
    assert archive.size > 0
    assert _leftovers(docker_client, lab) == []


def test_engine_session_takes_the_backup_with_the_running_versions_image(
    tmp_path: Path, current_images: str, session_env: dict[str, str]
) -> None:
    run = run_session(
        tmp_path,
        "--lab-engine=docker",
        f"--to-version={TO_VERSION}",
        "--backup=take",
        env=session_env,
    )
    assert run.status == 0, run.output
    assert run.last_line.startswith("VERDICT: GO"), run.output
    (check,) = run.checks("PRE-BACKUP")
    taken = check["evidence"]["taken"]
    assert taken["image"].endswith(f"/docker/dtr:{FROM_VERSION}")
    assert taken["image_digest"].startswith("sha256:")
    path = Path(taken["path"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == taken["sha256"]
    assert inspect(path).version == FROM_VERSION
