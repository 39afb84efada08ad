"""Evidence: what each check saw, the session record, and the bundle folder it is written to.

Every check item gets a `CheckRecord`; checks attach what they observed (JSON-able data or
text) so that an auditor can see why it passed or failed. The session record is written as
`result.json` into a bundle folder `<UTC time>-<target>-<from>-<to>/` under the report
directory. Everything written passes through the redactor first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from upgrade.cluster.engine_evidence import EngineEvidence
from upgrade.evidence.compare import Comparison
from upgrade.evidence.times import iso as iso
from upgrade.evidence.times import utc_now as utc_now
from upgrade.procedure.outages import ProbeResult
from upgrade.procedure.procedure import UpgradeRecord


def jsonable(value: Any) -> Any:
    """Turn evidence values (dataclasses, paths, times, sets) into JSON-able data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return jsonable(as_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {k: jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return str(value)


@dataclass
class CheckRecord:
    """One check item: its identity, outcome, timing and the evidence it attached."""

    nodeid: str
    check_id: str
    phase: str
    description: str
    # Every record starts as not run: only a report of the check itself changes that.
    outcome: str = "not-run"
    message: str = ""
    started_at: datetime | None = None
    duration_s: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    waiver: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"<evidence of {self.check_id} ({len(self.evidence)} items)>"

    def attach(self, name: str, value: Any) -> None:
        """Attach one piece of evidence under `name` (a later value replaces an earlier one)."""
        self.evidence[name] = jsonable(value)

    def note(self, text: str) -> None:
        """Record a warning that does not fail the check but belongs in the report."""
        self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        """The record in result.json's `checks` form."""
        return {
            "id": self.check_id,
            "phase": self.phase,
            "outcome": self.outcome,
            "nodeid": self.nodeid,
            "description": self.description,
            "message": self.message,
            "started_at": iso(self.started_at),
            "duration_s": round(self.duration_s, 3),
            "notes": list(self.notes),
            "waiver": self.waiver,
            "evidence": self.evidence,
        }


@dataclass
class SessionRecord:
    """Everything result.json holds about one session, and what the report reads of it.

    `upgrade`, `engine`, `availability` and `comparison` stay None until the session produced
    them and are then written under those keys; `planned_image` (the plan's bootstrapper) and
    `ucp_url` (the UCP the target uses) are for the report only.
    """

    target: str
    mode: str
    from_version: str | None = None
    to_version: str | None = None
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None
    verdict: str = ""
    verdict_reason: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckRecord] = field(default_factory=list)
    waivers_expired: list[dict[str, str]] = field(default_factory=list)
    phases: dict[str, dict[str, str | float | None]] = field(default_factory=dict)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    bundle_problems: list[str] = field(default_factory=list)
    upgrade: UpgradeRecord | None = None
    engine: EngineEvidence | None = None
    availability: ProbeResult | None = None
    comparison: Comparison | None = None
    planned_image: str | None = None
    ucp_url: str | None = None

    def phase_started(self, phase: str, moment: datetime) -> None:
        """Note the first time a phase started."""
        self.phases.setdefault(phase, {"started_at": iso(moment), "finished_at": None})

    def phase_finished(self, phase: str, moment: datetime) -> None:
        """Note the latest time a phase finished and its duration."""
        entry = self.phases.setdefault(phase, {"started_at": iso(moment)})
        entry["finished_at"] = iso(moment)
        start = entry.get("started_at")
        if isinstance(start, str):
            began = datetime.fromisoformat(start.replace("Z", "+00:00"))
            entry["duration_s"] = round((moment - began).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        """The whole record in result.json form."""
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "mode": self.mode,
            "target": self.target,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "settings": jsonable(self.settings),
            "phases": self.phases,
            "waivers_expired": self.waivers_expired,
            "collection_errors": self.collection_errors,
            "bundle_problems": self.bundle_problems,
            "checks": [c.as_dict() for c in self.checks],
        }
        for key, value in (
            ("upgrade", self.upgrade),
            ("engine", self.engine),
            ("availability", self.availability),
            ("comparison", self.comparison),
        ):
            if value is not None:
                data[key] = value.as_dict()
        return data
