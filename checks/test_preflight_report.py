"""Preflight: the evidence of this session has somewhere to go."""

from __future__ import annotations

import pytest

from upgrade.evidence.bundle import Bundle, room_for_bundle
from upgrade.evidence.records import CheckRecord

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-REPORT-SPACE")
def test_report_dir_has_room(bundle: Bundle, evidence: CheckRecord) -> None:
    """The report directory is writable and has room for the evidence bundle (a 1 MiB probe
    file is written and synced, and at least 64 MiB are free), so the change's evidence cannot
    be lost to a full or read-only disk after the upgrade has started."""
    room = room_for_bundle(bundle.path)
    evidence.attach(
        "report directory",
        {
            "bundle": str(bundle.path.resolve()),
            "free_mib": round(room.free_bytes / 2**20, 1),
            "needed_mib": round(room.needed_bytes / 2**20, 1),
            "probe_error": room.probe_error,
        },
    )
    assert room.probe_error is None, (
        f"cannot write into the bundle {bundle.path.resolve()}: {room.probe_error}; "
        "free space there or pass --report-dir on another file system"
    )
    assert room.ok, (
        f"only {room.free_bytes / 2**20:.1f} MiB free under {bundle.report_dir.resolve()} "
        f"({room.needed_bytes / 2**20:.0f} MiB needed for the evidence bundle); free space "
        "there or pass --report-dir on another file system"
    )
