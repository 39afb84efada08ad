"""Reading JSON answers: `JsonReader`'s typed getters and the RFC 3339 time parser.

A wrong shape (an array where an object was expected, a missing or mistyped field, a time that
is not RFC 3339) becomes a `BadResponse` naming the endpoint, made by the session the answer came
from so that any known secret is redacted from its excerpt.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from upgrade.clients.errors import BadResponse

__all__ = ["JsonReader", "JsonSource", "parse_time"]

T = TypeVar("T")


class JsonSource(Protocol):
    """Where a JSON value came from: it makes the `BadResponse` for a wrong shape."""

    def bad_response(self, endpoint: str, problem: str, data: object) -> BadResponse:
        """A `BadResponse` for `endpoint` showing a redacted excerpt of `data`."""
        ...


class JsonReader:
    """A JSON value with the endpoint it came from; typed getters raise `BadResponse`."""

    def __init__(self, data: Any, session: JsonSource, endpoint: str) -> None:
        self.data = data
        self._session = session
        self.endpoint = endpoint

    def fail(self, problem: str) -> BadResponse:
        """A `BadResponse` for this value's endpoint describing `problem`."""
        return self._session.bad_response(self.endpoint, problem, self.data)

    def object(self) -> dict[str, Any]:
        """The value as a JSON object."""
        if not isinstance(self.data, dict):
            raise self.fail(f"a JSON {_kind(self.data)} where an object was expected")
        return self.data

    def list(self) -> list[Any]:
        """The value as a JSON array."""
        if not isinstance(self.data, list):
            raise self.fail(f"a JSON {_kind(self.data)} where an array was expected")
        return self.data

    def child(self, value: Any, where: str) -> JsonReader:
        """A reader for a nested value, keeping the endpoint for messages."""
        return JsonReader(value, self._session, f"{self.endpoint} ({where})")

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        """`obj[key]` of type `kind`; `default` when absent (or null) if one is given."""
        obj = self.object()
        value = obj.get(key)
        if value is None and default is not None:
            return default
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problem = (
                f"no {key!r} field"
                if key not in obj
                else f"{key!r} of type {_kind(value)} where {kind.__name__} was expected"
            )
            raise self.fail(problem)
        return value

    def time(self, key: str) -> datetime | None:
        """An RFC 3339 time field as an aware datetime; None when absent or empty."""
        value = self.object().get(key)
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise self.fail(f"{key!r} of type {_kind(value)} where a time was expected")
        return parse_time(value, lambda: self.fail(f"{key!r} is not an RFC 3339 time"))


def parse_time(value: str, error: Callable[[], Exception]) -> datetime | None:
    """Parse RFC 3339 (`Z`, fractions of any length); Go's zero time is None."""
    text = value.strip()
    if text.startswith("0001-01-01"):
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go prints up to nanoseconds; Python takes at most microseconds.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        rest = rest[: min(digits, 6)] + rest[digits:]
        text = f"{head}.{rest}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise error() from None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
