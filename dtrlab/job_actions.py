"""What the lab's job runner knows about DTR's jobs: the actions, the log lines each writes, the
logrus text form of a log line, and when a cron fires."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from dtrlab.store import iso

__all__ = ["ACTIONS", "MESSAGES", "cron_next_run", "logrus_line"]

# Actions DTR's job runner knows (job-queue documentation); anything else is refused.
ACTIONS = (
    "gc",
    "onlinegc",
    "onlinegc_metadata",
    "onlinegc_joblogs",
    "onlinegc_scan",
    "metadatastoremigration",
    "sleep",
    "false",
    "tagmigration",
    "bloblinkmigration",
    "license_update",
    "scan_check",
    "scan_check_single",
    "scan_check_all",
    "update_vuln_db",
    "nautilus_update_db",
    "scannedlayermigration",
    "push_mirror_tag",
    "poll_mirror",
    "webhook",
    "ro_registry",
    "tag_pruning",
)

MESSAGES: dict[str, tuple[str, ...]] = {
    "metadatastoremigration": (
        "Starting metadata store migration",
        "Migrating blob links for all repositories",
        "Blob links migrated; online garbage collection can be enabled",
    ),
    "scannedlayermigration": ("Starting scanned layer migration", "Migrated scanned layers"),
    "update_vuln_db": ("Updating vulnerability database", "Vulnerability database updated"),
    "gc": (
        "Starting garbage collection",
        "Marking manifests and blobs",
        "Sweeping unreferenced blobs",
    ),
    "onlinegc": ("Starting online garbage collection", "Sweeping unreferenced blobs"),
}


def logrus_line(level: str, message: str, **fields: str) -> str:
    """One job log line as logrus' TextFormatter writes it: `time="..." level=info msg="..."`
    and the fields, each value bare when it is a plain word, else quoted as Go's strconv.Quote
    (real job logs are logrus text: fidelity-review.md 15)."""
    pairs = {"time": iso(datetime.now(UTC)), "level": level, "msg": message, **fields}
    return " ".join(f"{key}={_quoted(value)}" for key, value in pairs.items())


def _quoted(value: str) -> str:
    if value and all(c.isalnum() or c in "-._/@^+" for c in value):
        return value
    return json.dumps(value)


def cron_next_run(schedule: str, now: datetime) -> datetime:
    """The next time a 6-field cron spec `sec min hour dom month dow` with fixed sec/min/hour
    (day-of-week `*` or one number) fires after `now`."""
    sec, minute, hour, _dom, _month, dow = schedule.split()
    candidate = now.replace(hour=int(hour), minute=int(minute), second=int(sec), microsecond=0)
    for _ in range(8):
        if candidate > now and (dow == "*" or candidate.isoweekday() % 7 == int(dow)):
            return candidate
        candidate += timedelta(days=1)
    return candidate
