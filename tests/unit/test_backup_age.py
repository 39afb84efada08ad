"""When a given backup was taken and whether it has the documented layout: its tar members'
newest modification time (a `cp` keeps them) rather than the file's, a time in the future,
and `dtr-backup-v<version>/rethink/properties/` (create-a-backup.md; dtr-facts.md 1.3)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dtrlab.backup import write_backup
from upgrade.cluster import backup

SKEW = timedelta(seconds=2)
DAY = timedelta(days=1)


def _tar(path: Path, members: dict[str, bytes], mtime: float = 0.0) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(mtime)
            archive.addfile(info, io.BytesIO(data))
    return path


def _set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_the_labs_fresh_backup_is_taken_now_and_has_the_layout(tmp_path: Path) -> None:
    path = write_backup(tmp_path, "2.5.11", "5eb9459a7832", {"admin/app": {"1": "sha256:ab"}})
    reading = backup.read(path)
    now = datetime.now(UTC)
    assert reading.is_dtr_backup
    assert reading.info is not None
    assert reading.info.missing is None
    assert reading.taken_at_from == "members"
    assert reading.taken_at is not None
    assert abs((now - reading.taken_at).total_seconds()) < 5
    assert reading.dated_in_future(now, SKEW) is None


def test_a_copy_of_an_old_backup_is_as_old_as_its_members(tmp_path: Path) -> None:
    old = write_backup(tmp_path / "old", "2.5.11", "5eb9459a7832", {}, age=60 * DAY)
    copy = tmp_path / "new.tar"
    shutil.copyfile(old, copy)  # `cp`: the file's mtime is now, the members' are not
    reading = backup.read(copy)
    assert reading.modified_at is not None
    assert (datetime.now(UTC) - reading.modified_at).total_seconds() < 60
    assert reading.taken_at_from == "members"
    assert reading.info is not None
    assert 59.9 < reading.info.age(datetime.now(UTC)) / 86400 < 60.1


def test_members_without_a_time_leave_the_files_time(tmp_path: Path) -> None:
    path = _tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/properties/0": b"{}"})
    three_days_ago = datetime.now(UTC) - 3 * DAY
    _set_mtime(path, three_days_ago)
    reading = backup.read(path)
    assert reading.taken_at_from == "file"
    assert reading.info is not None
    assert reading.info.members_modified_at is None
    assert reading.taken_at is not None
    assert abs((reading.taken_at - three_days_ago).total_seconds()) < 1


def test_a_file_dated_tomorrow_cannot_be_judged(tmp_path: Path) -> None:
    path = _tar(tmp_path / "mine.tar", {"dtr-backup-v2.5.11/rethink/properties/0": b"{}"})
    _set_mtime(path, datetime.now(UTC) + DAY)  # `touch -d tomorrow mine.tar`
    problem = backup.read(path).dated_in_future(datetime.now(UTC), SKEW)
    assert problem is not None
    assert f"the backup {path}'s file is dated in the future" in problem
    assert "check this machine's clock or the file; a backup's age cannot be judged" in problem
    assert "\n" not in problem


def test_a_member_dated_in_the_future_cannot_be_judged(tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    path = _tar(
        tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/properties/0": b"{}"}, later.timestamp()
    )
    _set_mtime(path, datetime.now(UTC))
    problem = backup.read(path).dated_in_future(datetime.now(UTC), SKEW)
    assert problem is not None
    assert "newest member is dated in the future" in problem
    assert "3.0 h after this machine's clock" in problem


def test_a_time_within_the_clock_skew_is_not_the_future(tmp_path: Path) -> None:
    path = _tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/properties/0": b"{}"})
    now = datetime.now(UTC)
    _set_mtime(path, now + timedelta(seconds=1))
    assert backup.read(path).dated_in_future(now, SKEW) is None
    assert backup.read(path).dated_in_future(now, timedelta(0)) is not None


def test_a_tar_without_properties_is_not_a_dtr_backup(tmp_path: Path) -> None:
    path = _tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/rethink/tags/0": b"{}"})
    reading = backup.read(path)
    assert reading.problem is None
    assert not reading.is_dtr_backup
    assert reading.info is not None
    assert reading.info.version == "2.5.11"
    assert reading.info.missing == (
        "no file in dtr-backup-v2.5.11/rethink/properties/ (the layout has .../properties/0)"
    )


def test_an_empty_properties_folder_is_not_enough(tmp_path: Path) -> None:
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w") as archive:
        folder = tarfile.TarInfo("dtr-backup-v2.5.11/rethink/properties")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        archive.addfile(tarfile.TarInfo("dtr-backup-v2.5.11/rethink/tags/0"), io.BytesIO(b""))
    info = backup.inspect(path)
    assert info.has_rethink
    assert not info.has_properties
    assert info.missing is not None
    assert "rethink/properties/" in info.missing


def test_what_is_missing_is_named_from_the_top(tmp_path: Path) -> None:
    other = backup.inspect(_tar(tmp_path / "a.tar", {"etc/hosts": b"127.0.0.1"}))
    assert other.missing == "no dtr-backup-v<version>/ folder"
    no_rethink = backup.inspect(_tar(tmp_path / "b.tar", {"dtr-backup-v2.5.11/meta": b"m"}))
    assert no_rethink.missing == "no dtr-backup-v2.5.11/rethink/"
