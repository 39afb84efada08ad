"""Catalogue files: the TOML reader and the layering of `--catalog` over the shipped file.

`load_catalog` reads the shipped `upgrade/data/catalog.toml`, then the user's file when given,
checks each against the catalogue's shape, and merges them: releases are added to their lines,
and migrations, refusals, UCP pairings and bootstrapper rules with the same key replace the
shipped ones. Every problem becomes a `CatalogError` naming the file and the entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Final, cast

from upgrade.rules.catalog import (
    BootstrapperRule,
    Catalog,
    CatalogError,
    Line,
    Migration,
    RefusedHop,
    ReleaseLine,
    Tag,
    UCPPairing,
)
from upgrade.rules.catalog_table import CatalogTable, describe_value, read_text, read_toml, tables
from upgrade.rules.versions import Version, format_line

_SHIPPED: Final = "data/catalog.toml"
_SCHEMA: Final = 1
_PATCHES_RE: Final = re.compile(r"(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?", re.ASCII)
_REPOSITORY_RE: Final = re.compile(r"[a-z0-9][a-z0-9._:/-]*", re.ASCII)
_DOCUMENT_KEYS: Final = ("schema", "lines", "migration", "refused", "ucp", "bootstrapper")
_LINE_KEYS: Final = ("patches", "last_patch_known", "source", "tag", "note")
_MIGRATION_KEYS: Final = ("from", "to", "job", "note", "attempts", "source", "tag")
_REFUSED_KEYS: Final = ("from", "to", "reason", "source", "tag")
_UCP_KEYS: Final = ("dtr", "ucp_min", "ucp_max", "source", "tag", "note")
_BOOTSTRAPPER_KEYS: Final = ("repository", "since", "before", "source", "tag")
_MAX_RANGE: Final = 1000


def load_catalog(user_file: Path | None = None) -> Catalog:
    """The shipped catalogue, extended by `user_file` when given.

    Raises `CatalogError` naming the file and the problem when a file cannot be read or
    does not have the catalogue's shape.
    """
    shipped = resources.files("upgrade").joinpath(_SHIPPED)
    text = shipped.read_text(encoding="utf-8")
    layers = [_parse_document(read_toml(text, _SHIPPED), _SHIPPED, user=False)]
    files = [str(shipped)]
    if user_file is not None:
        where = str(user_file)
        document = read_toml(read_text(user_file), where)
        layers.append(_parse_document(document, where, user=True))
        files.append(where)
    return _merge(layers, tuple(files))


@dataclass(frozen=True, slots=True)
class _LineEntry:
    """One `[lines."x.y"]` table as written; None marks a field the file leaves out."""

    line: Line
    versions: tuple[Version, ...]
    last_patch_known: bool | None
    source: str | None
    tag: Tag | None
    note: str | None
    where: str


@dataclass(frozen=True, slots=True)
class _Layer:
    """One catalogue file, parsed and checked but not yet merged."""

    where: str
    user: bool
    lines: tuple[_LineEntry, ...]
    migrations: tuple[Migration, ...]
    refused: tuple[RefusedHop, ...]
    ucp: tuple[UCPPairing, ...]
    bootstrapper: tuple[BootstrapperRule, ...]


def _parse_document(data: dict[str, object], where: str, *, user: bool) -> _Layer:
    document = CatalogTable(data, where, "", _DOCUMENT_KEYS)
    schema = document.table.get("schema", _SCHEMA)
    if schema != _SCHEMA:
        raise document.error(f"schema must be {_SCHEMA}, got {describe_value(schema)}")
    lines_table = document.table.get("lines", {})
    if not isinstance(lines_table, dict):
        raise document.error(
            f'lines must be tables named by minor line ([lines."2.6"]), got '
            f"{describe_value(lines_table)}"
        )
    lines = tuple(
        _parse_line_entry(
            CatalogTable(value, where, f'[lines."{key}"]', _LINE_KEYS), key, user=user
        )
        for key, value in cast(dict[str, object], lines_table).items()
    )
    return _Layer(
        where=where,
        user=user,
        lines=lines,
        migrations=tuple(
            _parse_migration(reader, user=user)
            for reader in tables(document, "migration", _MIGRATION_KEYS)
        ),
        refused=tuple(
            _parse_refused(reader, user=user)
            for reader in tables(document, "refused", _REFUSED_KEYS)
        ),
        ucp=tuple(_parse_ucp(reader, user=user) for reader in tables(document, "ucp", _UCP_KEYS)),
        bootstrapper=tuple(
            _parse_bootstrapper(reader, user=user)
            for reader in tables(document, "bootstrapper", _BOOTSTRAPPER_KEYS)
        ),
    )


def _source(reader: CatalogTable, *, user: bool) -> str:
    # A user catalogue's facts default to naming the file they came from.
    if user:
        return reader.optional_text("source") or f"catalogue file {reader.where}"
    return reader.text("source")


def _tag(reader: CatalogTable, *, user: bool) -> Tag:
    tag = reader.tag()
    if tag is None:
        if not user:
            raise reader.error("missing key 'tag'")
        return "confirmed"
    return tag


def _parse_patches(reader: CatalogTable, line: Line) -> tuple[Version, ...]:
    text = reader.optional_text("patches")
    if text is None:
        return ()
    patches: set[int] = set()
    for token in text.split(","):
        match = _PATCHES_RE.fullmatch(token.strip())
        if match is None:
            raise reader.error(
                f'patches must list patch numbers and ranges, e.g. "0-3, 5-11"; got {text!r}'
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last - first >= _MAX_RANGE:
            raise reader.error(f"patches: bad range {token.strip()!r} in {text!r}")
        patches.update(range(first, last + 1))
    return tuple(Version(line[0], line[1], patch) for patch in sorted(patches))


def _parse_line_entry(reader: CatalogTable, key: str, *, user: bool) -> _LineEntry:
    line = reader.line(key, "line name")
    versions = _parse_patches(reader, line)
    known = reader.flag("last_patch_known")
    if not user:
        if not versions:
            raise reader.error("missing key 'patches'")
        if known is None:
            raise reader.error("missing key 'last_patch_known'")
    return _LineEntry(
        line=line,
        versions=versions,
        last_patch_known=known,
        source=reader.optional_text("source") if user else reader.text("source"),
        tag=reader.tag() if user else _tag(reader, user=False),
        note=reader.optional_text("note"),
        where=reader.where,
    )


def _parse_migration(reader: CatalogTable, *, user: bool) -> Migration:
    from_line = reader.text("from")
    to_line = reader.text("to")
    if reader.line(to_line, "to") <= reader.line(from_line, "from"):
        raise reader.error(f"to ({to_line}) must be a later minor line than from ({from_line})")
    return Migration(
        from_line=from_line,
        to_line=to_line,
        job=reader.text("job"),
        note=reader.optional_text("note") or "",
        attempts=reader.count("attempts"),
        source=_source(reader, user=user),
        tag=_tag(reader, user=user),
    )


def _parse_refused(reader: CatalogTable, *, user: bool) -> RefusedHop:
    return RefusedHop(
        from_pattern=reader.pattern("from"),
        to_pattern=reader.pattern("to"),
        reason=reader.text("reason"),
        source=_source(reader, user=user),
        tag=_tag(reader, user=user),
    )


def _parse_ucp(reader: CatalogTable, *, user: bool) -> UCPPairing:
    dtr = reader.line(reader.text("dtr"), "dtr")
    ucp_min = reader.line(reader.text("ucp_min"), "ucp_min")
    ucp_max_text = reader.optional_text("ucp_max")
    ucp_max = ucp_min if ucp_max_text is None else reader.line(ucp_max_text, "ucp_max")
    if ucp_max < ucp_min:
        raise reader.error(
            f"ucp_max ({format_line(ucp_max)}) is older than ucp_min ({format_line(ucp_min)})"
        )
    return UCPPairing(
        dtr_line=dtr,
        ucp_min=ucp_min,
        ucp_max=ucp_max,
        source=_source(reader, user=user),
        tag=_tag(reader, user=user),
        note=reader.optional_text("note") or "",
    )


def _parse_bootstrapper(reader: CatalogTable, *, user: bool) -> BootstrapperRule:
    repository = reader.text("repository")
    if _REPOSITORY_RE.fullmatch(repository) is None or "@" in repository:
        raise reader.error(
            f"repository must be an image repository without tag, e.g. mirantis/dtr; "
            f"got {repository!r}"
        )
    since = reader.version("since")
    if since is None:
        raise reader.error("missing key 'since'")
    before = reader.version("before")
    if before is not None and before <= since:
        raise reader.error(f"before ({before}) must be a later version than since ({since})")
    return BootstrapperRule(
        repository=repository,
        since=since,
        before=before,
        source=_source(reader, user=user),
        tag=_tag(reader, user=user),
        user=user,
    )


def _merge(layers: Iterable[_Layer], files: tuple[str, ...]) -> Catalog:
    lines: dict[Line, ReleaseLine] = {}
    migrations: dict[tuple[Line, Line], Migration] = {}
    refused: dict[tuple[str, str], RefusedHop] = {}
    ucp: dict[Line, UCPPairing] = {}
    bootstrapper: list[BootstrapperRule] = []
    for layer in layers:
        for entry in layer.lines:
            lines[entry.line] = _merge_line(lines.get(entry.line), entry)
        migrations.update((migration.hop, migration) for migration in layer.migrations)
        refused.update(((hop.from_pattern, hop.to_pattern), hop) for hop in layer.refused)
        ucp.update((pairing.dtr_line, pairing) for pairing in layer.ucp)
        bootstrapper.extend(layer.bootstrapper)
    return Catalog(
        lines=lines.values(),
        migrations=migrations.values(),
        refused=refused.values(),
        ucp_pairings=ucp.values(),
        bootstrapper_rules=bootstrapper,
        files=files,
    )


def _merge_line(existing: ReleaseLine | None, entry: _LineEntry) -> ReleaseLine:
    if existing is None:
        if not entry.versions:
            raise CatalogError(
                f'catalogue file {entry.where}: [lines."{format_line(entry.line)}"]: the line '
                "is new, so it needs 'patches'"
            )
        return ReleaseLine(
            line=entry.line,
            versions=entry.versions,
            last_patch_known=bool(entry.last_patch_known),
            source=entry.source or f"catalogue file {entry.where}",
            tag=entry.tag or "confirmed",
            note=entry.note or "",
        )
    added = set(entry.versions) - set(existing.versions)
    source = existing.source
    if entry.source is not None:
        source = entry.source
    elif added:
        source = f"{existing.source}; catalogue file {entry.where}"
    return replace(
        existing,
        versions=tuple(sorted(set(existing.versions) | added)),
        last_patch_known=(
            existing.last_patch_known if entry.last_patch_known is None else entry.last_patch_known
        ),
        source=source,
        tag=entry.tag or existing.tag,
        note=entry.note if entry.note is not None else existing.note,
    )
