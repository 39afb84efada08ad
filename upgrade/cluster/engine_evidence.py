"""The engine lab's evidence: each replica's containers now and every replacement, old and new.

With `--lab-engine=docker` the lab runs every replica as containers on a real Docker engine and
replaces them when the bootstrapper swaps the replica; this is what it reports after the
upgrade, typed, in result.json's `engine` form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upgrade.rules.versions import Version

__all__ = ["ContainerReplacement", "EngineContainer", "EngineEvidence"]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class EngineContainer:
    """One container of a replica: DTR's name for it, its ID, image and DTR version."""

    name: str
    id: str
    image: str
    version: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> EngineContainer:
        """The container from its JSON form."""
        return cls(str(data["name"]), str(data["id"]), str(data["image"]), str(data["version"]))

    def as_dict(self) -> dict[str, str]:
        """`{"name", "id", "image", "version"}`."""
        return {"name": self.name, "id": self.id, "image": self.image, "version": self.version}


@dataclass(frozen=True)
class ContainerReplacement:
    """One replica's containers replaced: the old ones removed (none for the containers a
    replica starts with), the new ones created, and when."""

    replica: str
    from_version: str | None
    to_version: str
    old: tuple[EngineContainer, ...]
    new: tuple[EngineContainer, ...]
    removed_at: str | None
    created_at: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ContainerReplacement:
        """The replacement from its JSON form."""
        return cls(
            replica=str(data["replica"]),
            from_version=_text(data.get("from_version")),
            to_version=str(data["to_version"]),
            old=tuple(EngineContainer.of(c) for c in data.get("old") or ()),
            new=tuple(EngineContainer.of(c) for c in data.get("new") or ()),
            removed_at=_text(data.get("removed_at")),
            created_at=str(data["created_at"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """result.json's form of one replacement."""
        return {
            "replica": self.replica,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "old": [c.as_dict() for c in self.old],
            "new": [c.as_dict() for c in self.new],
            "removed_at": self.removed_at,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class EngineEvidence:
    """The engine the lab ran on, each replica's containers now, every replacement so far and
    what the engine refused."""

    engine: str | None
    registry: str | None
    containers: Mapping[str, tuple[EngineContainer, ...]]
    replacements: tuple[ContainerReplacement, ...]
    errors: tuple[str, ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> EngineEvidence:
        """The evidence from the engine lab's JSON form."""
        return cls(
            engine=_text(data.get("engine")),
            registry=_text(data.get("registry")),
            containers={
                str(rid): tuple(EngineContainer.of(c) for c in records)
                for rid, records in (data.get("containers") or {}).items()
            },
            replacements=tuple(ContainerReplacement.of(r) for r in data.get("replacements") or ()),
            errors=tuple(str(e) for e in data.get("errors") or ()),
        )

    def replaced(self, from_version: str) -> list[ContainerReplacement]:
        """The replacements that took a replica off `from_version`'s release (the upgrade's
        swaps; a label `2.7.0-29094adc` is release 2.7.0)."""
        return [r for r in self.replacements if _same_release(r.from_version, from_version)]

    def as_dict(self) -> dict[str, Any]:
        """result.json's `engine` object."""
        return {
            "engine": self.engine,
            "registry": self.registry,
            "containers": {
                rid: [c.as_dict() for c in records] for rid, records in self.containers.items()
            },
            "replacements": [r.as_dict() for r in self.replacements],
            "errors": list(self.errors),
        }


def _same_release(label: str | None, version: str) -> bool:
    """Whether two version labels name one release (`2.7.0-29094adc` is 2.7.0, versions.py);
    labels that are no version are compared as they are."""
    if label is None:
        return False
    try:
        return Version.parse(label).release == Version.parse(version).release
    except ValueError:
        return label == version
