"""The harness's own suite is strict: every warning in it is an error.

Only here, not in pyproject.toml, whose pytest settings are also those of operators' sessions
(`pytest --target=...` collects checks/), where a dependency's warning must never change a
verdict or an exit status. A test may still relax it with its own `filterwarnings` mark.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent
STRICT = pytest.mark.filterwarnings("error")


def _in_suite(path: Path) -> bool:
    return path.resolve().is_relative_to(SUITE)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, object, object]:
    """Importing a module of the suite fails on any warning (a deprecated import, say)."""
    if not _in_suite(collector.path):
        return (yield)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return (yield)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the suite fails on any warning, unraisable exceptions included; the mark
    comes first, so a test's own `filterwarnings` marks win over it."""
    for item in items:
        if _in_suite(item.path):
            item.add_marker(STRICT, append=False)


def pytest_configure(config: pytest.Config) -> None:
    """The suite's --apply sessions against made-up DTRs (dtr.example.com) take the machine's
    upgrade lock: one lock folder per run of the suite, so two runs on one machine (two
    checkouts, a developer beside CI) never refuse each other's sessions. Within a run, the
    sessions still meet each other's locks as operators' sessions would."""
    import os
    import tempfile

    from upgrade.procedure import lock

    if lock.LOCK_DIR_VARIABLE not in os.environ and not hasattr(config, "workerinput"):
        os.environ[lock.LOCK_DIR_VARIABLE] = tempfile.mkdtemp(prefix="dtr-upgrade-suite-locks-")
