"""Run real harness sessions (`pytest --target=...` on the project's checks) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SESSION_TIMEOUT_S = 240


@dataclass(frozen=True)
class Session:
    """A finished harness session: exit status, terminal output and its bundle."""

    status: int
    output: str
    bundle: Path

    @property
    def result(self) -> dict[str, Any]:
        """The bundle's result.json."""
        data = json.loads((self.bundle / "result.json").read_text())
        assert isinstance(data, dict)
        return data

    @property
    def last_line(self) -> str:
        """The last terminal line (the verdict)."""
        return self.output.rstrip().splitlines()[-1]

    def checks(self, check_id: str) -> list[dict[str, Any]]:
        """Every recorded item of one check ID."""
        return [c for c in self.result["checks"] if c["id"] == check_id]

    def failed_ids(self) -> set[str]:
        """Check IDs that failed or errored."""
        return {c["id"] for c in self.result["checks"] if c["outcome"] in ("failed", "error")}


def session_argv(
    reports: Path, *args: str, target: str = "lab", python: Sequence[str] = (sys.executable,)
) -> list[str]:
    """The command of one session: `python -m pytest --target=TARGET --report-dir=REPORTS
    ARGS...` (without the cache plugin, so sessions leave nothing in the checkout)."""
    return [
        *python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--target={target}",
        f"--report-dir={reports}",
        *args,
    ]


def start_session(
    reports: Path, *args: str, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """Start one lab session in the background from the checkout (`popen`: its output pipes);
    the caller waits for it."""
    return subprocess.Popen(
        session_argv(reports, *args), cwd=ROOT, env={**os.environ, **(env or {})}, **popen
    )


def run_session(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, target: str = "lab"
) -> Session:
    """Run one session with its bundle under `tmp_path/reports`; the bundle must exist."""
    reports = tmp_path / "reports"
    proc = subprocess.run(
        session_argv(reports, *args, target=target),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SESSION_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        check=False,
    )
    output = proc.stdout + proc.stderr
    latest = reports / "latest"
    assert (latest / "result.json").is_file(), f"no result.json written:\n{output}"
    return Session(proc.returncode, output, latest.resolve())
