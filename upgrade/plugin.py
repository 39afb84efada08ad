"""The pytest plugin: options, settings, phase ordering, the gate and the verdict."""

from __future__ import annotations

import pytest

GROUP = "dtr-upgrade"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the harness's options in one group."""
    group = parser.getgroup(GROUP, "DTR upgrade verification")
    group.addoption("--target", default=None, help="DTR load-balanced host[:port], or 'lab'")
