"""Preflight: a recent, readable DTR backup taken at the running version exists."""

from __future__ import annotations

import pytest

from upgrade.cluster.backup import BackupReading
from upgrade.cluster.images import bootstrapper_image
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now
from upgrade.procedure.backup_run import TakenBackup
from upgrade.rules.catalog import Catalog, CatalogError
from upgrade.rules.versions import Version

pytestmark = [pytest.mark.preflight, pytest.mark.needs_target_version]

NO_BACKUP = "no backup to read: PRE-BACKUP's finding"


def _backup_image(version: Version, catalog: Catalog, settings: Settings) -> str:
    """The image whose `backup` command backs up DTR `version`: the bootstrapper of the running
    release (S6/S7: `docker run -i --rm docker/dtr:<running version> backup`), in the repository
    the catalogue names for it (`mirantis/dtr` from 2.6.15, 2.7.8 and 2.8.2,
    `registry.mirantis.com/msr/dtr` for 2.10: launchpad `msr_config.go`, fidelity-review.md 15),
    or --dtr-image's. A build suffix of docs.json's version is not part of the image tag."""
    try:
        return bootstrapper_image(version.release, catalog, settings.dtr_image)
    except CatalogError:
        return f"<the DTR {version.release} bootstrapper image>"


@pytest.mark.check("PRE-BACKUP")
def test_backup_recent(
    backup_taken: TakenBackup | None,
    backup_reading: BackupReading | None,
    current_version: Version,
    settings: Settings,
    catalog: Catalog,
    evidence: CheckRecord,
) -> None:
    """A DTR backup is given and is newer than --max-backup-age (the guide: "you have a recent
    DTR backup"); with --backup=take this session took it first, and a failed or empty backup
    fails here. Its age runs from its tar members' newest modification time (a `cp` of an old
    backup keeps those), or the file's when the members carry none; a time more than
    --max-clock-skew ahead of this machine's clock fails, since no age can be judged from it.
    Image blobs and the vulnerability database are not in a DTR backup."""
    if backup_taken is not None:
        evidence.attach("taken", backup_taken.as_dict())
        assert backup_taken.ok, f"--backup=take: {backup_taken.problem}"
    assert backup_reading is not None, (
        f"no backup given: take one with `docker run -i --rm --log-driver none "
        f"{_backup_image(current_version, catalog, settings)} backup --ucp-url ... "
        "--existing-replica-id ... > dtr-backup.tar` and pass --backup dtr-backup.tar, or "
        "let the session take it: --backup=take"
    )
    backup_file = backup_reading.path
    evidence.attach("backup", str(backup_file))
    taken_at = backup_reading.taken_at
    assert taken_at is not None, backup_reading.problem
    info = backup_reading.info
    evidence.attach("modified_at", backup_reading.modified_at)
    evidence.attach("members_modified_at", info.members_modified_at if info else None)
    evidence.attach("taken_at", taken_at)
    evidence.attach("taken_at_from", backup_reading.taken_at_from)
    now = utc_now()
    future = backup_reading.dated_in_future(now, settings.max_clock_skew)
    assert future is None, future
    age_s = (now - taken_at).total_seconds()
    evidence.attach("age_hours", round(age_s / 3600, 2))
    max_age = settings.max_backup_age.total_seconds()
    by = {"members": "its members' newest modification time", "file": "the file's mtime"}[
        backup_reading.taken_at_from
    ]
    assert age_s <= max_age, (
        f"the backup {backup_file} is {age_s / 3600:.1f} h old by {by} (limit "
        f"{max_age / 3600:.1f} h, --max-backup-age); take a new backup before the change"
    )


@pytest.mark.check("PRE-BACKUP-READABLE")
def test_backup_readable(backup_reading: BackupReading | None, evidence: CheckRecord) -> None:
    """The backup reads whole as a DTR backup tar with the layout create-a-backup.md shows
    (`dtr-backup-v<version>/`, `.../rethink/`, `.../rethink/properties/0`; dtr-facts.md 1.3), so
    a truncated, corrupt or hand-made file is caught before it is needed. Its SHA-256
    identifies the file checked."""
    if backup_reading is None:
        pytest.skip(NO_BACKUP)
    evidence.attach("backup", backup_reading.info or str(backup_reading.path))
    assert backup_reading.info is not None, backup_reading.problem
    missing = backup_reading.info.missing
    assert missing is None, f"{backup_reading.path} is not a DTR backup: {missing} in the archive"


@pytest.mark.check("PRE-BACKUP-VERSION")
def test_backup_of_running_version(
    backup_reading: BackupReading | None, current_version: Version, evidence: CheckRecord
) -> None:
    """The backup was taken at the release the cluster runs: a restore needs a backup of the
    running version. Releases are compared: the backup's directory names the plain release
    (`dtr-backup-v<version>`, create-a-backup.md) while docs.json may report a build of it
    (`2.7.0-29094adc`, the 2.7.0 Swagger; fidelity-review.md 2)."""
    if backup_reading is None:
        pytest.skip(NO_BACKUP)
    info = backup_reading.info
    if info is None or info.version is None:
        pytest.skip("the backup's version is unknown: PRE-BACKUP-READABLE's finding")
    evidence.attach("backup_version", info.version)
    evidence.attach("running_version", str(current_version))
    assert Version.parse(info.version).release == current_version.release, (
        f"the backup was taken at DTR {info.version} but the cluster runs {current_version}; "
        "a restore needs a backup of the running version: take a new one"
    )
