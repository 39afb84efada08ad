"""The lab bootstrapper's `backup` (dtrlab.bootstrapper_backup): the archive alone on stdout in
the documented layout, the log on stderr, the documented flags per version, and the refusals
of a real one (no replica, a replica of another version, an unhealthy replica)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable

from dtrlab import Lab
from tests.lab.conftest import BOOTSTRAPPER_TIMEOUT_S, bootstrapper_env


def backup(
    lab: Lab, version: str, *extra: str, replica: str | None = "first"
) -> subprocess.CompletedProcess[bytes]:
    argv = [*lab.bootstrapper_argv(version), "backup", "--ucp-url", lab.ucp_url]
    argv += ["--ucp-username", lab.credentials.ucp_username, "--ucp-ca", lab.ca_pem]
    if replica is not None:
        rid = next(iter(lab.replica_urls)) if replica == "first" else replica
        argv += ["--existing-replica-id", rid]
    return subprocess.run(
        [*argv, *extra],
        env=bootstrapper_env(lab),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=BOOTSTRAPPER_TIMEOUT_S,
        check=False,
    )


def test_backup_prints_the_documented_layout_on_stdout_only(lab: Lab) -> None:
    done = backup(lab, "2.5.11")
    assert done.returncode == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        names = archive.getnames()
        tags = archive.extractfile("dtr-backup-v2.5.11/rethink/tags/0")
        assert tags is not None
        assert b'"repository"' in tags.read()
    assert names[:2] == ["dtr-backup-v2.5.11", "dtr-backup-v2.5.11/rethink"]
    assert "dtr-backup-v2.5.11/rethink/properties/0" in names
    log = done.stderr.decode()
    assert 'level=info msg="Backing up replica' in log
    assert lab.credentials.ucp_password not in log


def test_offline_backup_is_a_26_flag(make_lab: Callable[..., Lab]) -> None:
    old = make_lab()
    refused = backup(old, "2.5.11", "--offline-backup")
    assert refused.returncode == 1
    assert b"flag provided but not defined: -offline-backup" in refused.stderr
    new = make_lab(version="2.6.4")
    done = backup(new, "2.6.4", "--offline-backup")
    assert done.returncode == 0, done.stderr
    assert b"for an offline backup" in done.stderr


def test_backup_refusals(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    no_replica = backup(lab, "2.5.11", replica=None)
    assert no_replica.returncode == 1
    assert b"--existing-replica-id is required" in no_replica.stderr
    assert no_replica.stdout == b""
    other_version = backup(lab, "2.6.4")
    assert other_version.returncode == 1
    assert b"back it up with the image of the running version" in other_version.stderr
    unknown = backup(lab, "2.5.11", replica="0123456789ab")
    assert unknown.returncode == 1
    assert b"there is no replica 0123456789ab" in unknown.stderr
    sick = make_lab(scenarios=("replica-unhealthy",))
    unhealthy = sick.cluster.replica_list()[-1].id
    refused = backup(sick, "2.5.11", replica=unhealthy)
    assert refused.returncode == 1
    assert f"replica {unhealthy} is not healthy".encode() in refused.stderr
    assert refused.stdout == b""
