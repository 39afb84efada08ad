"""Reading a catalogue file's TOML: the text, the document, and `CatalogTable`, typed access to
one table whose every error names the file and the entry (`catalogue file FILE: [[ucp]] #2:
ucp_min: ...`). What the tables mean is `upgrade.rules.catalog_file`'s.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Final, cast

from upgrade.rules.catalog import CatalogError, Line, Tag, parse_line
from upgrade.rules.versions import Version, VersionError

__all__ = ["CatalogTable", "describe_value", "read_text", "read_toml", "tables"]

_TAGS: Final[tuple[Tag, ...]] = ("confirmed", "inferred", "disputed")
_PATTERN_RE: Final = re.compile(r"(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?", re.ASCII)


def read_text(path: Path) -> str:
    """The text of a catalogue file, or a `CatalogError` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"catalogue file {path} does not exist") from None
    except IsADirectoryError:
        raise CatalogError(f"catalogue file {path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise CatalogError(f"catalogue file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise CatalogError(f"catalogue file {path} cannot be read: {exc.strerror}") from None


def read_toml(text: str, where: str) -> dict[str, object]:
    """The TOML document in `text` (read from `where`), or a `CatalogError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalogue file {where} is not valid TOML: {exc}") from None


class CatalogTable:
    """Typed access to one table of a catalogue file, with errors that name the entry."""

    def __init__(self, table: object, where: str, entry: str, allowed: Iterable[str]) -> None:
        self.where = where
        self.entry = entry
        if not isinstance(table, dict):
            raise self.error(f"expected a table, got {describe_value(table)}")
        self.table = cast(dict[str, object], table)
        allowed = tuple(allowed)
        unknown = sorted(set(self.table) - set(allowed))
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} (expected one of: {', '.join(allowed)})")

    def error(self, problem: str) -> CatalogError:
        location = f" {self.entry}:" if self.entry else ""
        return CatalogError(f"catalogue file {self.where}:{location} {problem}")

    def optional_text(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{key} must be a non-empty string, got {describe_value(value)}")
        return value

    def text(self, key: str) -> str:
        value = self.optional_text(key)
        if value is None:
            raise self.error(f"missing key {key!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {describe_value(value)}")
        return value

    def count(self, key: str) -> int | None:
        value = self.table.get(key)
        if value is None:
            return None
        if type(value) is not int or value < 1:
            raise self.error(f"{key} must be a positive integer, got {describe_value(value)}")
        return value

    def tag(self) -> Tag | None:
        value = self.optional_text("tag")
        if value is None:
            return None
        for tag in _TAGS:
            if value == tag:
                return tag
        raise self.error(f"tag must be one of {', '.join(_TAGS)}, got {value!r}")

    def version(self, key: str) -> Version | None:
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return Version.parse(value)
        except VersionError as exc:
            raise self.error(f"{key}: {exc}") from None

    def line(self, value: str, key: str) -> Line:
        try:
            return parse_line(value)
        except CatalogError as exc:
            raise self.error(f"{key}: {exc}") from None

    def pattern(self, key: str) -> str:
        value = self.text(key)
        if _PATTERN_RE.fullmatch(value) is None:
            raise self.error(
                f'{key} must be a major or a minor line, e.g. "3" or "2.9"; got {value!r}'
            )
        return value


def describe_value(value: object) -> str:
    """A TOML value as an error message names it: `a table`, `an array`, or its repr."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def tables(document: CatalogTable, key: str, allowed: tuple[str, ...]) -> list[CatalogTable]:
    """The array of tables `[[key]]` of `document`, each checked against `allowed` keys."""
    value = document.table.get(key, [])
    if not isinstance(value, list):
        raise document.error(
            f"{key} must be an array of tables ([[{key}]]), got {describe_value(value)}"
        )
    return [
        CatalogTable(item, document.where, f"[[{key}]] #{index}", allowed)
        for index, item in enumerate(value, start=1)
    ]
