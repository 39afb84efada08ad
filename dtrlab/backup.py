"""DTR backups as `docker/dtr backup` writes them: a tar of `dtr-backup-v<version>/rethink/...`.

`write_backup` puts one in a folder (the backup a scenario provides); `backup_tar` builds the
bytes the lab's bootstrapper prints on stdout for `backup` (create-a-backup.md: "backs up the
DTR metadata and saves the result into a tar archive", `... backup ... > backup.tar`), and
`backup_answer` is what the lab's UCP control endpoint `GET /_lab/backup` tells it to print.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtrlab.errors import LabError

if TYPE_CHECKING:
    from dtrlab.cluster import Cluster

# The RethinkDB tables a DTR backup holds, one directory each, as `tar -tf` shows them.
BACKUP_TABLES = (
    "properties",
    "repositories",
    "tags",
    "manifests",
    "namespaces",
    "repository_team_access",
    "events",
    "webhooks",
    "poll_mirroring_policies",
    "push_mirroring_policies",
    "pruning_policies",
    "scanned_images",
    "scanned_layers",
    "crons",
    "jobs",
)


def backup_tar(
    version: str, replica_id: str, snapshot: dict[str, dict[str, str]], taken: datetime
) -> bytes:
    """The tar `backup` prints: `dtr-backup-v<version>/`, `.../rethink/`, `.../rethink/<table>/0`
    (create-a-backup.md, "Test your backups")."""
    stamp = taken.timestamp()
    root = f"dtr-backup-v{version}"
    tables: dict[str, list[dict[str, object]]] = {t: [] for t in BACKUP_TABLES}
    tables["properties"] = [
        {"key": "version", "value": version},
        {"key": "replica_id", "value": replica_id},
        {"key": "taken_at", "value": taken.strftime("%Y-%m-%dT%H:%M:%SZ")},
    ]
    for name, tags in snapshot.items():
        namespace, _, repo = name.partition("/")
        tables["repositories"].append({"namespace": namespace, "name": repo})
        tables["tags"].extend({"repository": name, "name": t, "digest": d} for t, d in tags.items())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirname in (root, f"{root}/rethink"):
            tar.addfile(_dir_info(dirname, stamp))
        for table, rows in tables.items():
            tar.addfile(_dir_info(f"{root}/rethink/{table}", stamp))
            data = "\n".join(json.dumps(row, sort_keys=True) for row in rows).encode()
            info = tarfile.TarInfo(f"{root}/rethink/{table}/0")
            info.size = len(data)
            info.mtime = int(stamp)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_backup(
    directory: Path,
    version: str,
    replica_id: str,
    snapshot: dict[str, dict[str, str]],
    age: timedelta = timedelta(0),
) -> Path:
    """Write a backup tar into `directory` with mtime now - `age`; return its path."""
    taken = datetime.now(UTC) - age
    stamp = taken.timestamp()
    path = directory / f"dtr-{version}-backup-{taken.strftime('%Y%m%dT%H%M%SZ')}.tar"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(backup_tar(version, replica_id, snapshot, taken))
    os.utime(path, (stamp, stamp))
    return path


def backup_answer(cluster: Cluster, replica_id: str) -> dict[str, Any]:
    """`GET /_lab/backup?replica=<id>`: what the bootstrapper's `backup` prints for this lab.

    `fail` (the `backup-fails` scenario) is the fatal message to end with after half the
    archive, `empty` (`backup-empty`) means it prints nothing and exits 0, `slow_s`
    (`backup-slow`) is how long it spreads the archive over.
    """
    replica = next((r for r in cluster.replica_list() if r.id == replica_id), None)
    if replica is None:
        raise LabError(f"there is no replica {replica_id} in this cluster")
    if not replica.health(cluster.clock())[0] or replica.state != "running":
        raise LabError(f"replica {replica_id} is not healthy")
    config = cluster.config
    fail = None
    if config.has("backup-fails"):
        # The lab's own wording: the real failure text is not documented (dtr-facts.md 1.3).
        fail = (
            f"Failed to create backup: lost the connection to dtr-rethinkdb-{replica_id} "
            "while exporting table tags"
        )
    return {
        "replica_id": replica_id,
        "version": replica.version,
        "snapshot": cluster.store.snapshot(),
        "fail": fail,
        "empty": config.has("backup-empty"),
        "slow_s": config.backup_slow_time if config.has("backup-slow") else 0.0,
    }


def _dir_info(name: str, stamp: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o700
    info.mtime = int(stamp)
    return info
