"""Comparison with an earlier bundle: phase durations, longest outage and failed checks.

Nightly staging jobs run the same change again and again; `--compare-with DIR|latest` puts the
previous night's figures beside this run's so a slower phase, a longer outage or a newly failing
check is seen at a glance. The earlier bundle's own integrity is checked too, so a comparison
never silently rests on an edited result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upgrade.errors import HarnessError
from upgrade.evidence.integrity import IntegrityError, verify

__all__ = [
    "LATEST",
    "CompareError",
    "Comparison",
    "FailedChecks",
    "Figure",
    "RunSummary",
    "compare",
    "load_previous",
    "resolve_previous",
    "summarise",
]

LATEST = "latest"
RESULT_NAME = "result.json"
PHASES = ("preflight", "upgrade", "post")


class CompareError(HarnessError):
    """The bundle to compare with cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class RunSummary:
    """The figures of one run that a comparison shows."""

    bundle: str
    verdict: str
    started_at: str | None
    from_version: str | None
    to_version: str | None
    phase_durations: Mapping[str, float | None]
    longest_outage_s: float | None
    longest_outage_endpoint: str | None
    failed_checks: tuple[str, ...]
    # The longest outage of each probed endpoint, for pages that show every endpoint.
    endpoint_outages: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in result.json's `comparison`."""
        return {
            "bundle": self.bundle,
            "verdict": self.verdict,
            "started_at": self.started_at,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "phase_durations_s": dict(self.phase_durations),
            "longest_outage_s": self.longest_outage_s,
            "longest_outage_endpoint": self.longest_outage_endpoint,
            "failed_checks": list(self.failed_checks),
        }


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def summarise(result: Mapping[str, Any], bundle: str) -> RunSummary:
    """The comparable figures of a result (result.json's form)."""
    phases = result.get("phases") or {}
    durations = {
        name: _number((phases.get(name) or {}).get("duration_s"))
        for name in PHASES
        if name in phases
    }
    longest: float | None = None
    endpoint: str | None = None
    availability = result.get("availability") or {}
    outages: dict[str, float] = {}
    for name, figures in sorted((availability.get("endpoints") or {}).items()):
        value = _number((figures or {}).get("longest_outage_s"))
        if value is not None:
            outages[name] = value
        if value is not None and (longest is None or value > longest):
            longest, endpoint = value, name
    failed = sorted(
        {
            str(check.get("id"))
            for check in result.get("checks") or []
            if check.get("outcome") in ("failed", "error")
        }
    )
    return RunSummary(
        bundle=bundle,
        verdict=str(result.get("verdict") or ""),
        started_at=result.get("started_at"),
        from_version=result.get("from_version"),
        to_version=result.get("to_version"),
        phase_durations=durations,
        longest_outage_s=longest,
        longest_outage_endpoint=endpoint,
        failed_checks=tuple(failed),
        endpoint_outages=outages,
    )


def resolve_previous(spec: str, report_dir: Path) -> Path | None:
    """The bundle folder `--compare-with` names; None when `latest` has no bundle yet.

    A folder given by name must exist and hold result.json; `latest` is the report
    directory's pointer to the newest bundle, resolved now (before this run's bundle exists).
    """
    if spec == LATEST:
        pointer = report_dir / LATEST
        if not pointer.exists():
            return None
        folder = pointer.resolve()
    else:
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise CompareError(
                f"--compare-with {spec}: no such bundle folder (give a bundle directory under "
                f"{report_dir} or 'latest')"
            )
    if not (folder / RESULT_NAME).is_file():
        raise CompareError(
            f"--compare-with {spec}: {folder} holds no {RESULT_NAME}; give an evidence bundle "
            "folder"
        )
    return folder


def _integrity(folder: Path) -> str:
    try:
        found = verify(folder)
    except IntegrityError as exc:
        return f"not verified: {exc}"
    if found.ok:
        return "intact (SHA256SUMS verified)"
    return "EDITED since it was sealed: " + "; ".join(found.lines())


def load_previous(folder: Path) -> tuple[RunSummary, str]:
    """The summary of an earlier bundle and the state of its integrity."""
    path = folder / RESULT_NAME
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"--compare-with: cannot read {path}: {exc}") from None
    if not isinstance(result, dict):
        raise CompareError(f"--compare-with: {path} is not a result.json object")
    return summarise(result, folder.name), _integrity(folder)


def _delta(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return round(current - previous, 3)


@dataclass(frozen=True)
class Figure:
    """One figure of both runs (seconds) and its change."""

    previous_s: float | None
    current_s: float | None

    @property
    def delta_s(self) -> float | None:
        """This run's figure minus the earlier one (None when either is unknown)."""
        return _delta(self.current_s, self.previous_s)

    def as_dict(self) -> dict[str, float | None]:
        """`{"previous_s", "current_s", "delta_s"}`."""
        return {"previous_s": self.previous_s, "current_s": self.current_s, "delta_s": self.delta_s}


@dataclass(frozen=True)
class FailedChecks:
    """The failed check IDs of both runs, and which are new and which fixed in this one."""

    previous: frozenset[str]
    current: frozenset[str]

    @property
    def new(self) -> list[str]:
        """Failed now, not in the earlier run."""
        return sorted(self.current - self.previous)

    @property
    def fixed(self) -> list[str]:
        """Failed in the earlier run, not now."""
        return sorted(self.previous - self.current)

    def as_dict(self) -> dict[str, list[str]]:
        """`{"previous", "current", "new", "fixed"}`, each sorted."""
        return {
            "previous": sorted(self.previous),
            "current": sorted(self.current),
            "new": self.new,
            "fixed": self.fixed,
        }


@dataclass(frozen=True)
class Comparison:
    """This run beside an earlier bundle; without one (`previous` None) only a note says why."""

    previous: RunSummary | None
    current: RunSummary | None = None
    previous_integrity: str = ""
    note: str = ""

    @classmethod
    def unavailable(cls, note: str) -> Comparison:
        """No earlier bundle to compare with, and why."""
        return cls(previous=None, note=note)

    @property
    def phases(self) -> dict[str, Figure]:
        """Each phase either run has, in session order, with both durations."""
        if self.previous is None or self.current is None:
            return {}
        before, now = self.previous.phase_durations, self.current.phase_durations
        return {
            name: Figure(before.get(name), now.get(name))
            for name in PHASES
            if name in before or name in now
        }

    @property
    def longest_outage(self) -> Figure:
        """The longest outage of any endpoint in each run."""
        return Figure(
            self.previous.longest_outage_s if self.previous else None,
            self.current.longest_outage_s if self.current else None,
        )

    @property
    def failed_checks(self) -> FailedChecks:
        """Failed check IDs of each run, and which are new and which fixed in this one."""
        return FailedChecks(
            frozenset(self.previous.failed_checks if self.previous else ()),
            frozenset(self.current.failed_checks if self.current else ()),
        )

    def as_dict(self) -> dict[str, Any]:
        """result.json's `comparison`: both runs' figures, the differences, new and fixed
        failures; or `{"previous": None, "note"}` when there was nothing to compare with."""
        if self.previous is None or self.current is None:
            return {"previous": None, "note": self.note}
        return {
            "previous": self.previous.as_dict(),
            "current": self.current.as_dict(),
            "previous_integrity": self.previous_integrity,
            "phases": {name: figure.as_dict() for name, figure in self.phases.items()},
            "longest_outage": self.longest_outage.as_dict(),
            "failed_checks": self.failed_checks.as_dict(),
        }


def compare(previous: RunSummary, current: RunSummary, *, integrity: str = "") -> Comparison:
    """This run beside the earlier one, with the state of the earlier bundle's integrity."""
    return Comparison(previous, current, previous_integrity=integrity)
