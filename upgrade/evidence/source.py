"""Which harness wrote a bundle: its installed distribution version and the git commit of its
source (marked when the checkout has uncommitted changes), for the report's environment table."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path
from typing import Final

__all__ = ["harness_commit", "harness_version"]

DISTRIBUTION: Final = "dtr-upgrade-harness"
GIT_TIMEOUT_S: Final = 5.0


def harness_commit() -> str:
    """The source checkout's HEAD, or why it is not known."""
    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],  # noqa: S607 (git from PATH)
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if head.returncode != 0:
            return "not a git checkout"
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git did not answer)"
    commit = head.stdout.strip()
    return commit + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def harness_version() -> str:
    """The installed distribution's version, or that it is not installed as one."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "not installed as a distribution"
