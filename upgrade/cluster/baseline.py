"""The preflight baseline: the cluster as it was before the change, for the post checks.

Recorded once in preflight (replicas and their versions, every repository's tags and digests,
settings, crons, recent jobs), written into the bundle as `baseline.json`, and read back by a
later `--phase=post` session with `--baseline FILE`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from upgrade.cluster.inventory import Inventory, snapshot
from upgrade.cluster.target import Target
from upgrade.cluster.worker_pool import DEFAULT_PROCESSES
from upgrade.errors import HarnessError
from upgrade.evidence.files import write_json
from upgrade.evidence.records import iso, jsonable, utc_now

FORMAT = 1
RECENT_JOBS = 50
WHAT = (
    "a baseline is the cluster before the change (replicas, repositories, tags, settings), "
    "which a preflight writes as baseline.json into its bundle: pass that file"
)


class BaselineError(HarnessError):
    """A baseline file that cannot be used."""


@dataclass(frozen=True)
class Baseline:
    """The cluster before the change."""

    taken_at: datetime
    target: str
    replica_versions: Mapping[str, str]
    inventory: Inventory
    settings: Mapping[str, Any] = field(default_factory=dict)
    crons: tuple[Mapping[str, Any], ...] = ()
    jobs: tuple[Mapping[str, Any], ...] = ()

    @property
    def tag_count(self) -> int:
        """How many tags the inventory holds."""
        return sum(len(tags) for tags in self.inventory.values())

    def summary(self) -> dict[str, Any]:
        """Counts for the evidence (the full baseline is its own file)."""
        return {
            "taken_at": iso(self.taken_at),
            "replica_versions": dict(self.replica_versions),
            "repositories": len(self.inventory),
            "tags": self.tag_count,
            "crons": [c.get("action") for c in self.crons],
            "recent_jobs": len(self.jobs),
        }

    def as_dict(self) -> dict[str, Any]:
        """The baseline file's JSON form."""
        return {
            "format": FORMAT,
            "taken_at": iso(self.taken_at),
            "target": self.target,
            "replica_versions": dict(self.replica_versions),
            "inventory": self.inventory,
            "settings": jsonable(self.settings),
            "crons": jsonable(list(self.crons)),
            "jobs": jsonable(list(self.jobs)),
        }

    def save(self, path: Path) -> None:
        """Write the baseline file atomically."""
        write_json(path, self.as_dict())


def record(target: Target, replica_versions: Mapping[str, str], workers: int = 16) -> Baseline:
    """Take the baseline of the cluster now."""
    dtr = target.dtr()
    inventory = snapshot(dtr, target.registry(), workers=workers, processes=DEFAULT_PROCESSES)
    return Baseline(
        taken_at=utc_now(),
        target=target.dtr_url,
        replica_versions=dict(replica_versions),
        inventory=inventory,
        settings=dtr.settings().raw,
        crons=tuple(jsonable(c) for c in dtr.crons()),
        jobs=tuple(jsonable(j) for j in dtr.jobs(limit=RECENT_JOBS)),
    )


def other_cluster(
    baseline: Baseline, path: Path | str, dtr_url: str, replica_ids: Iterable[str]
) -> str:
    """Why `baseline` (read from `path`) is not of the DTR at `dtr_url` with `replica_ids`;
    empty when it is.

    A DTR cluster is known by its replica IDs, not by its address (a load balancer, a replica's
    own name or a new DNS name reach the same cluster). The upgrade keeps every replica's ID: it
    replaces the containers of one replica at a time (dtr-facts.md 1.2 "Order of work"), and
    containers and volumes are named by it (`dtr-api-<rid>`, `dtr-rethink-<rid>`: dtr-facts.md
    2); `join` adds one replica and `remove` takes out one (dtr-facts.md 1.4). So the baseline
    is of this cluster when they share a replica ID; none in common is another cluster (or one
    whose every replica was replaced since, which the baseline cannot speak for).
    """
    now = sorted(replica_ids)
    before = sorted(baseline.replica_versions)
    if set(now) & set(before):
        return ""
    return (
        f"--baseline {path} was taken from another DTR cluster: at {baseline.target} "
        f"(replicas {', '.join(before) or 'none'}) on {iso(baseline.taken_at)}, while this "
        f"session's DTR at {dtr_url} has replicas {', '.join(now) or 'none'}, none in common; "
        "pass the baseline.json of a preflight bundle of this DTR, or run a preflight of it "
        "(--phase=preflight) for one"
    )


def recorded_replica_ids(path: Path) -> tuple[str, ...]:
    """The replica IDs a baseline file records; none when it cannot be read (`load` says why)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(str(rid) for rid in data["replica_versions"])
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def load(path: Path) -> Baseline:
    """Read a baseline file written by an earlier preflight."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise BaselineError(
            f"--baseline {path}: not JSON ({where or 'not UTF-8 text'}); {WHAT}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f"--baseline {path}: not a baseline file (format {FORMAT}); {WHAT}")
    try:
        inventory = {
            str(repo): {str(tag): str(digest) for tag, digest in tags.items()}
            for repo, tags in data["inventory"].items()
        }
        return Baseline(
            taken_at=datetime.fromisoformat(str(data["taken_at"]).replace("Z", "+00:00")),
            target=str(data["target"]),
            replica_versions={str(k): str(v) for k, v in data["replica_versions"].items()},
            inventory=inventory,
            settings=data.get("settings") or {},
            crons=tuple(data.get("crons") or ()),
            jobs=tuple(data.get("jobs") or ()),
        )
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise BaselineError(
            f"--baseline {path}: damaged baseline file (a field is missing or malformed: "
            f"{exc}); {WHAT}"
        ) from None
