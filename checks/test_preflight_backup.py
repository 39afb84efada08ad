"""Preflight: a recent, readable DTR backup taken at the running version exists."""

from __future__ import annotations

import pytest

from upgrade.cluster.backup import BackupReading
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now
from upgrade.rules.versions import Version

pytestmark = [pytest.mark.preflight, pytest.mark.needs_target_version]

NO_BACKUP = "no backup given: PRE-BACKUP's finding"


@pytest.mark.check("PRE-BACKUP")
def test_backup_recent(
    backup_reading: BackupReading | None,
    current_version: Version,
    settings: Settings,
    evidence: CheckRecord,
) -> None:
    """A DTR backup is given and is newer than --max-backup-age (the guide: "you have a recent
    DTR backup"). Image blobs and the vulnerability database are not in a DTR backup."""
    assert backup_reading is not None, (
        f"no backup given: take one with `docker run -i --rm --log-driver none "
        f"docker/dtr:{current_version} backup --ucp-url ... --existing-replica-id ... > "
        "dtr-backup.tar` and pass --backup dtr-backup.tar"
    )
    backup_file = backup_reading.path
    evidence.attach("backup", str(backup_file))
    assert backup_reading.modified_at is not None, backup_reading.problem
    age_s = (utc_now() - backup_reading.modified_at).total_seconds()
    evidence.attach("modified_at", backup_reading.modified_at)
    evidence.attach("age_hours", round(age_s / 3600, 2))
    max_age = settings.max_backup_age.total_seconds()
    assert age_s <= max_age, (
        f"the backup {backup_file} is {age_s / 3600:.1f} h old (limit "
        f"{max_age / 3600:.1f} h, --max-backup-age); take a new backup before the change"
    )


@pytest.mark.check("PRE-BACKUP-READABLE")
def test_backup_readable(backup_reading: BackupReading | None, evidence: CheckRecord) -> None:
    """The backup reads whole as a DTR backup tar (`dtr-backup-v<version>/rethink/`), so a
    truncated or corrupt file is caught before it is needed. Its SHA-256 identifies the file
    checked."""
    if backup_reading is None:
        pytest.skip(NO_BACKUP)
    evidence.attach("backup", backup_reading.info or str(backup_reading.path))
    assert backup_reading.info is not None, backup_reading.problem
    assert backup_reading.is_dtr_backup, (
        f"{backup_reading.path} is not a DTR backup: no dtr-backup-v<version>/rethink/ in the "
        "archive"
    )


@pytest.mark.check("PRE-BACKUP-VERSION")
def test_backup_of_running_version(
    backup_reading: BackupReading | None, current_version: Version, evidence: CheckRecord
) -> None:
    """The backup was taken at the version the cluster runs: a restore needs a backup of the
    running version."""
    if backup_reading is None:
        pytest.skip(NO_BACKUP)
    info = backup_reading.info
    if info is None or info.version is None:
        pytest.skip("the backup's version is unknown: PRE-BACKUP-READABLE's finding")
    evidence.attach("backup_version", info.version)
    evidence.attach("running_version", str(current_version))
    assert Version.parse(info.version) == current_version, (
        f"the backup was taken at DTR {info.version} but the cluster runs {current_version}; "
        "a restore needs a backup of the running version: take a new one"
    )
