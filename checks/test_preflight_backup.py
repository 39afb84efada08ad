"""Preflight: a recent, readable DTR backup taken at the running version exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from upgrade.cluster.backup import inspect
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now
from upgrade.rules.versions import Version

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-BACKUP")
def test_backup_recent(
    backup_file: Path | None,
    current_version: Version,
    settings: Settings,
    evidence: CheckRecord,
) -> None:
    """A DTR backup newer than --max-backup-age, taken at the running version, reads whole
    (the guide: "you have a recent DTR backup"). Its SHA-256 identifies the file checked.
    Image blobs and the vulnerability database are not in a DTR backup."""
    if settings.to_version is None:
        pytest.skip("no --to-version: a backup is a precondition of a change, not of health")
    assert backup_file is not None, (
        f"no backup given: take one with `docker run -i --rm --log-driver none "
        f"docker/dtr:{current_version} backup --ucp-url ... --existing-replica-id ... > "
        "dtr-backup.tar` and pass --backup dtr-backup.tar"
    )
    info = inspect(backup_file)
    age_s = info.age(utc_now())
    evidence.attach("backup", info)
    evidence.attach("age_hours", round(age_s / 3600, 2))
    max_age = settings.max_backup_age.total_seconds()
    assert age_s <= max_age, (
        f"the backup {backup_file} is {age_s / 3600:.1f} h old (limit "
        f"{max_age / 3600:.1f} h, --max-backup-age); take a new backup before the change"
    )
    layout_ok = info.version is not None and info.has_rethink
    assert layout_ok, (
        f"{backup_file} is not a DTR backup: no dtr-backup-v<version>/rethink/ in the archive"
    )
    assert info.version is not None
    assert Version.parse(info.version) == current_version, (
        f"the backup was taken at DTR {info.version} but the cluster runs {current_version}; "
        "a restore needs a backup of the running version: take a new one"
    )
