"""The lab's own exception types; messages name what to fix."""

from __future__ import annotations


class LabError(Exception):
    """Something the lab cannot do as asked."""


class LabConfigError(LabError, ValueError):
    """A LabConfig value the lab cannot use."""


class UnknownScenarioError(LabConfigError):
    """A scenario name that is not one of SCENARIOS."""
