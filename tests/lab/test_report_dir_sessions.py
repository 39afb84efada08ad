"""Sessions sharing one --report-dir: each bundle gets its own final name, sealed and whole."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.lab.sessions import SESSION_TIMEOUT_S, start_session
from upgrade.evidence import integrity

APPLY = ("--to-version=2.6.4", "--apply", "--upgrade-backoff=0.2s")


def test_two_upgrades_started_at_once_into_one_report_dir_both_end_final(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    # Started just after a second begins, so both sessions most likely stamp the same second.
    while time.time() % 1 > 0.05:
        time.sleep(0.01)
    procs = [
        start_session(reports, *APPLY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=SESSION_TIMEOUT_S)[0] for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(outputs)
    bundles = sorted(p for p in reports.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(bundles) == 2, [p.name for p in reports.iterdir()]
    for bundle in bundles:
        assert "unfinished" not in bundle.name
        assert not bundle.name.startswith(".incomplete")
        result = json.loads((bundle / "result.json").read_text())
        assert result["verdict"] == "UPGRADED"
        assert result["bundle_problems"] == []
        assert integrity.verify(bundle).ok, bundle
    if bundles[0].name[:16] == bundles[1].name[:16]:  # the same second: one took a suffix
        assert bundles[1].name == f"{bundles[0].name}-2"
    named = sorted(
        line.removeprefix("bundle: ")
        for output in outputs
        for line in output.splitlines()
        if line.startswith("bundle: ")
    )
    assert named == [str(b) for b in bundles], "each session names its own final bundle"
    for output in outputs:
        assert "the bundle is incomplete" not in output, output
        assert output.rstrip().splitlines()[-1].startswith("VERDICT: UPGRADED"), output
