"""DTR backups as `docker/dtr backup` writes them: a tar of `dtr-backup-v<version>/rethink/...`."""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    root = f"dtr-backup-v{version}"
    path = directory / f"dtr-{version}-backup-{taken.strftime('%Y%m%dT%H%M%SZ')}.tar"
    directory.mkdir(parents=True, exist_ok=True)
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
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
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
    os.utime(path, (stamp, stamp))
    return path


def _dir_info(name: str, stamp: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o700
    info.mtime = int(stamp)
    return info
