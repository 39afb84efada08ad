"""UTC times as the evidence writes them: now, and ISO 8601 with milliseconds and a Z.

A leaf module, so the procedure, the terminal guard and the records can all use it without
importing one another.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso", "utc_now"]


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
