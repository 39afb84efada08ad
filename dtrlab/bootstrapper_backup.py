"""The simulated bootstrapper's `backup`: `python -m dtrlab.bootstrapper --image-version V backup`.

It behaves like `docker run -i --rm --log-driver none docker/dtr:V backup [flags] > backup.tar`
(docker/docs reference/dtr/2.6/cli/backup.md, create-a-backup.md; dtr-facts.md 1.3): the
archive is printed on stdout and nothing else is, the log (logrus lines, as `upgrade` prints
them) goes to stderr. It logs in to UCP like `upgrade` (the password from `--ucp-password` or
$UCP_PASSWORD), backs up the replica `--existing-replica-id` names, which must be healthy and
run this image's version, and ends with status 0, or with a fatal line and status 1. The
archive holds `dtr-backup-v<version>/rethink/<table>/0` (dtrlab.backup). The content and the
scenarios' faults come from the lab's `GET /_lab/backup` (dtrlab.ucp_api).

Flags (reference/dtr/{2.5,2.6,2.7}/cli/backup.md): --debug, --existing-replica-id,
--help-extended, --ucp-ca, --ucp-insecure-tls, --ucp-password, --ucp-url, --ucp-username; from
2.6 --offline-backup ($DTR_OFFLINE_BACKUP), accepted and logged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dtrlab.backup import backup_tar
from dtrlab.bootstrapper import UCPSession, _connect, begin, run_command, ucp_session
from dtrlab.bootstrapper_cli import Fatal, Flag, Log, flags_for, parse_flags
from dtrlab.catalogue import Release, parse_version

# `upgrade`'s flags that `backup` does not have.
_UPGRADE_ONLY = ("no-image-check", "nocolor", "max-wait")
CHUNKS = 20


def backup_flags(version: Release) -> dict[str, Flag]:
    """The `backup` flags of DTR `version` (dtr-facts.md 1.3)."""
    flags = {name: f for name, f in flags_for(version).items() if name not in _UPGRADE_ONLY}
    if version.line >= (2, 6):
        flags["offline-backup"] = Flag("offline-backup", "DTR_OFFLINE_BACKUP", False)
    return flags


def backup(version: str, args: Sequence[str], environ: dict[str, str], interactive: bool) -> int:
    """The `backup` command; the archive on stdout, returns the exit status."""
    release = parse_version(version)
    values = parse_flags(args, backup_flags(release), environ)
    log = Log(bool(values.get("debug")), stream=sys.stderr)
    if values.get("help") or values.get("help-extended"):
        sys.stderr.write("Create a backup of DTR\n")
        sys.stderr.write("Flags: " + " ".join(f"--{n}" for n in backup_flags(release)) + "\n")
        return 0

    def body() -> None:
        try:
            begin("backup", version, values, interactive, log)
            _complete_replica(values, interactive)
            session = ucp_session(values, log)
            _connect(session, values, log)
            _print_backup(session, version, values, log)
        except BrokenPipeError:
            raise Fatal("Failed to write the backup: stdout was closed") from None

    return run_command(body, log, failed="Backup has failed.", interrupted="backup interrupted")


def _complete_replica(values: dict[str, Any], interactive: bool) -> None:
    if values.get("existing-replica-id"):
        return
    if not interactive:
        raise Fatal("--existing-replica-id is required (no terminal to prompt for it)")
    values["existing-replica-id"] = input("existing-replica-id: ").strip()


def _print_backup(session: UCPSession, version: str, values: dict[str, Any], log: Log) -> None:
    replica = str(values["existing-replica-id"])
    answer = session.json("GET", f"/_lab/backup?replica={quote(replica)}")
    if answer["version"] != version:
        raise Fatal(
            f"replica {replica} runs DTR {answer['version']}, this is {version}: back it up "
            f"with the image of the running version, docker/dtr:{answer['version']}"
        )
    if values.get("offline-backup"):
        log.info(f"Stopping dtr-rethinkdb-{replica} for an offline backup")
    log.info(f"Backing up replica {replica}")
    data = b""
    if not answer["empty"]:
        data = backup_tar(version, replica, answer["snapshot"], datetime.now(UTC))
    out = sys.stdout.buffer
    size = max(1, -(-len(data) // CHUNKS))
    pause = float(answer["slow_s"]) / CHUNKS
    for index, start in enumerate(range(0, len(data), size)):
        if answer["fail"] and index == CHUNKS // 2:
            out.flush()
            raise Fatal(str(answer["fail"]))
        out.write(data[start : start + size])
        out.flush()
        if pause:
            time.sleep(pause)
    if answer["fail"]:
        raise Fatal(str(answer["fail"]))
    log.info(f"Backup of replica {replica} complete ({len(data)} bytes)")
