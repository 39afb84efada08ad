"""The release catalogue: released DTR versions, UCP/MKE pairings, per-hop migrations, refusals.

The shipped catalogue (`upgrade/data/catalog.toml`) holds the facts of the fact sheet, each with
its source and a confirmed/inferred tag. A user catalogue file of the same shape extends it:
releases are added to their lines, and migrations, refusals, UCP pairings and bootstrapper rules
with the same key replace the shipped ones. Catalogue facts only ever tighten the guide's rules
(see `upgrade.rules.versions.evaluate`).

UCP pairing decision: a UCP older than the line DTR is paired with is incompatible; one inside
the paired range is compatible; one newer than the range is *unknown* (`compatible is None`),
because the sources name no DTR release that supports it, and the guide asks to check the
compatibility matrix rather than assume.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Final, Literal, cast

from upgrade.rules.versions import Version, VersionError, format_line

__all__ = [
    "BootstrapperRule",
    "Catalog",
    "CatalogError",
    "Compatibility",
    "Migration",
    "RefusedHop",
    "ReleaseLine",
    "UCPPairing",
]

Tag = Literal["confirmed", "inferred", "disputed"]
Line = tuple[int, int]

_TAGS: Final[tuple[Tag, ...]] = ("confirmed", "inferred", "disputed")
_SHIPPED: Final = "data/catalog.toml"
_SCHEMA: Final = 1
_LINE_RE: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", re.ASCII)
_PATTERN_RE: Final = re.compile(r"(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?", re.ASCII)
_PATCHES_RE: Final = re.compile(r"(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?", re.ASCII)
_REPOSITORY_RE: Final = re.compile(r"[a-z0-9][a-z0-9._:/-]*", re.ASCII)


class CatalogError(ValueError):
    """A catalogue file cannot be read or does not have the catalogue's shape.

    The message is one line naming the file, the entry and what is wrong with it.
    """


@dataclass(frozen=True, slots=True)
class ReleaseLine:
    """The known releases of one minor line, e.g. 2.6, and whether its last patch is known."""

    line: Line
    versions: tuple[Version, ...]
    last_patch_known: bool
    source: str
    tag: Tag
    note: str = ""

    @property
    def name(self) -> str:
        """The line as written in the product documentation, e.g. `2.6`."""
        return format_line(self.line)


@dataclass(frozen=True, slots=True)
class Migration:
    """A job DTR runs when an upgrade crosses from one minor line to the next."""

    from_line: str
    to_line: str
    job: str
    note: str
    attempts: int | None = None
    source: str = ""
    tag: Tag = "confirmed"

    @property
    def hop(self) -> tuple[Line, Line]:
        """The (from, to) minor lines as numbers, e.g. `((2, 5), (2, 6))`."""
        return (_parse_line(self.from_line), _parse_line(self.to_line))


@dataclass(frozen=True, slots=True)
class RefusedHop:
    """A hop the guide's table allows but the product cannot do with `upgrade`.

    `from_pattern` and `to_pattern` are a major (`"3"`) or a minor line (`"2.9"`).
    """

    from_pattern: str
    to_pattern: str
    reason: str
    source: str = ""
    tag: Tag = "confirmed"

    def matches(self, current: Version, target: Version) -> bool:
        """True when `current -> target` is a hop this refusal covers."""
        return _pattern_matches(self.from_pattern, current) and _pattern_matches(
            self.to_pattern, target
        )

    @property
    def specificity(self) -> int:
        """How narrow the refusal is: the number of version parts its two patterns pin."""
        return self.from_pattern.count(".") + self.to_pattern.count(".")


@dataclass(frozen=True, slots=True)
class UCPPairing:
    """The UCP/MKE minor lines one DTR minor line is paired with."""

    dtr_line: Line
    ucp_min: Line
    ucp_max: Line
    source: str
    tag: Tag
    note: str = ""


@dataclass(frozen=True, slots=True)
class Compatibility:
    """Whether a DTR version and a UCP/MKE version go together.

    `compatible` is None when the catalogue cannot tell; `confirmed` is True only when the
    answer rests on a pairing the sources state outright.
    """

    compatible: bool | None
    confirmed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class BootstrapperRule:
    """The bootstrapper image repository for versions `since <= v < before`."""

    repository: str
    since: Version
    before: Version | None
    source: str
    tag: Tag
    user: bool = False

    def covers(self, version: Version) -> bool:
        """True when `version` falls in this rule's range.

        A suffixed build is placed by its release: 2.7.0-tp1 belongs to 2.7.0's rule, not to a
        rule that ends before 2.7.0.
        """
        release = version.release
        return self.since <= release and (self.before is None or release < self.before)


class Catalog:
    """The released versions and per-version facts the rules and the planner consult."""

    def __init__(
        self,
        lines: Iterable[ReleaseLine],
        migrations: Iterable[Migration] = (),
        refused: Iterable[RefusedHop] = (),
        ucp_pairings: Iterable[UCPPairing] = (),
        bootstrapper_rules: Iterable[BootstrapperRule] = (),
        files: tuple[str, ...] = (),
    ) -> None:
        self._lines: dict[Line, ReleaseLine] = {}
        for entry in lines:
            strays = [str(v) for v in entry.versions if v.minor_line != entry.line]
            if strays:
                raise CatalogError(
                    f"release line {entry.name} lists versions of other lines: {', '.join(strays)}"
                )
            self._lines[entry.line] = replace(entry, versions=tuple(sorted(set(entry.versions))))
        self._migrations = tuple(sorted(migrations, key=lambda item: item.hop))
        self._refused = tuple(refused)
        self._ucp: dict[Line, UCPPairing] = {entry.dtr_line: entry for entry in ucp_pairings}
        self._bootstrapper = tuple(bootstrapper_rules)
        self.files = files
        """The catalogue files this catalogue was read from, shipped file first."""

    def __repr__(self) -> str:
        return f"Catalog(files={self.files!r}, lines={len(self._lines)})"

    @classmethod
    def load(cls, user_file: Path | None = None) -> Catalog:
        """The shipped catalogue, extended by `user_file` when given.

        Raises `CatalogError` naming the file and the problem when a file cannot be read or
        does not have the catalogue's shape.
        """
        shipped = resources.files("upgrade").joinpath(_SHIPPED)
        text = shipped.read_text(encoding="utf-8")
        layers = [_parse_document(_read_toml(text, _SHIPPED), _SHIPPED, user=False)]
        files = [str(shipped)]
        if user_file is not None:
            where = str(user_file)
            document = _read_toml(_read_text(user_file), where)
            layers.append(_parse_document(document, where, user=True))
            files.append(where)
        return _merge(layers, tuple(files))

    # Releases

    def lines(self) -> tuple[ReleaseLine, ...]:
        """Every minor line the catalogue knows, oldest first."""
        return tuple(self._lines[line] for line in sorted(self._lines))

    def known_versions(self, line: Line | str | None = None) -> tuple[Version, ...]:
        """The known releases of `line` (`(2, 6)` or `"2.6"`), or of every line; oldest first."""
        if line is None:
            return tuple(version for entry in self.lines() for version in entry.versions)
        entry = self._lines.get(line if isinstance(line, tuple) else _parse_line(line))
        return entry.versions if entry is not None else ()

    def latest_patch(self, major: int, minor: int) -> Version | None:
        """The latest known release of the major.minor line, None if none is known."""
        versions = self.known_versions((major, minor))
        return versions[-1] if versions else None

    def latest_in_major(self, major: int) -> Version | None:
        """The latest known release of the major version, None if none is known."""
        versions = [
            v for line, entry in self._lines.items() if line[0] == major for v in entry.versions
        ]
        return max(versions) if versions else None

    def is_known(self, version: Version) -> bool:
        """True when `version` (suffix included) is a release the catalogue lists."""
        entry = self._lines.get(version.minor_line)
        return entry is not None and version in entry.versions

    def line_complete(self, major: int, minor: int) -> bool:
        """True when the catalogue knows the line's last patch (False for unknown lines)."""
        entry = self._lines.get((major, minor))
        return entry is not None and entry.last_patch_known

    # Bootstrapper

    def bootstrapper_rule(self, version: Version) -> BootstrapperRule | None:
        """The rule that names the bootstrapper repository for `version`, None if none does.

        A user catalogue's rules are consulted first; among the rules that cover the version,
        the one with the latest `since` wins.
        """
        covering = [rule for rule in self._bootstrapper if rule.covers(version)]
        if not covering:
            return None
        return max(covering, key=lambda rule: (rule.user, rule.since))

    def image_for(self, version: Version) -> str:
        """The full bootstrapper image reference for `version`, e.g. `mirantis/dtr:2.7.8`.

        Raises `CatalogError` when no rule covers the version (MSR 3.x has no bootstrapper).
        """
        rule = self.bootstrapper_rule(version)
        if rule is None:
            raise CatalogError(
                f"no bootstrapper image is known for DTR {version}: add a [[bootstrapper]] rule "
                "covering it to a catalogue file (--catalog FILE)"
            )
        return f"{rule.repository}:{version}"

    # Hops

    def migrations(self, current: Version, target: Version) -> tuple[Migration, ...]:
        """The migration jobs of every minor hop an upgrade from `current` to `target` crosses."""
        if target <= current:
            return ()
        low, high = current.minor_line, target.minor_line
        return tuple(
            migration
            for migration in self._migrations
            if low <= migration.hop[0] and migration.hop[1] <= high
        )

    @property
    def exceptions(self) -> tuple[RefusedHop, ...]:
        """Every hop the catalogue refuses although the guide's table allows it."""
        return self._refused

    def exception_for(self, current: Version, target: Version) -> RefusedHop | None:
        """The most specific refusal covering `current -> target`, None if none does."""
        matching = [hop for hop in self._refused if hop.matches(current, target)]
        return max(matching, key=lambda hop: hop.specificity) if matching else None

    # UCP / MKE

    def ucp_pairing(self, dtr: Version) -> UCPPairing | None:
        """The UCP/MKE lines the DTR version's minor line is paired with, None if unknown."""
        return self._ucp.get(dtr.minor_line)

    def ucp_compatibility(self, dtr: Version | str, ucp: Version | str) -> Compatibility:
        """Whether UCP/MKE `ucp` supports DTR `dtr`, by the pairings of the catalogue.

        Older than the pairing: incompatible. Inside it: compatible. Newer: unknown.
        """
        dtr = Version.coerce(dtr)
        ucp = Version.coerce(ucp)
        pairing = self.ucp_pairing(dtr)
        product = _ucp_product(ucp.minor_line)
        if pairing is None:
            return Compatibility(
                None,
                False,
                f"the catalogue has no UCP/MKE pairing for DTR {format_line(dtr.minor_line)}: "
                f"check the compatibility matrix for {product} {ucp}.",
            )
        confirmed = pairing.tag == "confirmed"
        paired = _describe_range(pairing)
        basis = f"({pairing.tag} pairing, source {pairing.source})"
        line = ucp.minor_line
        if line < pairing.ucp_min:
            return Compatibility(
                False,
                confirmed,
                f"{product} {ucp} is older than {paired}, which DTR {dtr} is paired with "
                f"{basis}: upgrade {product} first.",
            )
        if line > pairing.ucp_max:
            return Compatibility(
                None,
                False,
                f"{product} {ucp} is newer than {paired}, which DTR {dtr} is paired with "
                f"{basis}: the catalogue cannot confirm it, check the compatibility matrix.",
            )
        return Compatibility(
            True,
            confirmed,
            f"{product} {ucp} is in {paired}, which DTR {dtr} is paired with {basis}.",
        )


def _ucp_product(line: Line) -> str:
    # UCP was renamed Mirantis Kubernetes Engine from 3.3 on.
    return "MKE" if line >= (3, 3) else "UCP"


def _describe_range(pairing: UCPPairing) -> str:
    product = _ucp_product(pairing.ucp_min)
    if pairing.ucp_min == pairing.ucp_max:
        return f"{product} {format_line(pairing.ucp_min)}"
    return f"{product} {format_line(pairing.ucp_min)}-{format_line(pairing.ucp_max)}"


def _parse_line(text: str) -> Line:
    match = _LINE_RE.fullmatch(text)
    if match is None:
        raise CatalogError(f"malformed minor line {text!r}: expected MAJOR.MINOR, e.g. 2.6")
    return (int(match.group(1)), int(match.group(2)))


def _pattern_matches(pattern: str, version: Version) -> bool:
    parts = tuple(int(part) for part in pattern.split("."))
    return parts == version.minor_line[: len(parts)]


# Reading catalogue files. Every problem becomes a CatalogError naming the file and the entry.

_DOCUMENT_KEYS: Final = ("schema", "lines", "migration", "refused", "ucp", "bootstrapper")
_LINE_KEYS: Final = ("patches", "last_patch_known", "source", "tag", "note")
_MIGRATION_KEYS: Final = ("from", "to", "job", "note", "attempts", "source", "tag")
_REFUSED_KEYS: Final = ("from", "to", "reason", "source", "tag")
_UCP_KEYS: Final = ("dtr", "ucp_min", "ucp_max", "source", "tag", "note")
_BOOTSTRAPPER_KEYS: Final = ("repository", "since", "before", "source", "tag")
_MAX_RANGE: Final = 1000


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


def _read_text(path: Path) -> str:
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


def _read_toml(text: str, where: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalogue file {where} is not valid TOML: {exc}") from None


class _Reader:
    """Typed access to one table of a catalogue file, with errors that name the entry."""

    def __init__(self, table: object, where: str, entry: str, allowed: Iterable[str]) -> None:
        self.where = where
        self.entry = entry
        if not isinstance(table, dict):
            raise self.error(f"expected a table, got {_describe_value(table)}")
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
            raise self.error(f"{key} must be a non-empty string, got {_describe_value(value)}")
        return value

    def text(self, key: str) -> str:
        value = self.optional_text(key)
        if value is None:
            raise self.error(f"missing key {key!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.table.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {_describe_value(value)}")
        return value

    def count(self, key: str) -> int | None:
        value = self.table.get(key)
        if value is None:
            return None
        if type(value) is not int or value < 1:
            raise self.error(f"{key} must be a positive integer, got {_describe_value(value)}")
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
            return _parse_line(value)
        except CatalogError as exc:
            raise self.error(f"{key}: {exc}") from None

    def pattern(self, key: str) -> str:
        value = self.text(key)
        if _PATTERN_RE.fullmatch(value) is None:
            raise self.error(
                f'{key} must be a major or a minor line, e.g. "3" or "2.9"; got {value!r}'
            )
        return value


def _describe_value(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _tables(document: _Reader, key: str, allowed: tuple[str, ...]) -> list[_Reader]:
    value = document.table.get(key, [])
    if not isinstance(value, list):
        raise document.error(
            f"{key} must be an array of tables ([[{key}]]), got {_describe_value(value)}"
        )
    return [
        _Reader(item, document.where, f"[[{key}]] #{index}", allowed)
        for index, item in enumerate(value, start=1)
    ]


def _parse_document(data: dict[str, object], where: str, *, user: bool) -> _Layer:
    document = _Reader(data, where, "", _DOCUMENT_KEYS)
    schema = document.table.get("schema", _SCHEMA)
    if schema != _SCHEMA:
        raise document.error(f"schema must be {_SCHEMA}, got {_describe_value(schema)}")
    lines_table = document.table.get("lines", {})
    if not isinstance(lines_table, dict):
        raise document.error(
            f'lines must be tables named by minor line ([lines."2.6"]), got '
            f"{_describe_value(lines_table)}"
        )
    lines = tuple(
        _parse_line_entry(_Reader(value, where, f'[lines."{key}"]', _LINE_KEYS), key, user=user)
        for key, value in cast(dict[str, object], lines_table).items()
    )
    return _Layer(
        where=where,
        user=user,
        lines=lines,
        migrations=tuple(
            _parse_migration(reader, user=user)
            for reader in _tables(document, "migration", _MIGRATION_KEYS)
        ),
        refused=tuple(
            _parse_refused(reader, user=user)
            for reader in _tables(document, "refused", _REFUSED_KEYS)
        ),
        ucp=tuple(_parse_ucp(reader, user=user) for reader in _tables(document, "ucp", _UCP_KEYS)),
        bootstrapper=tuple(
            _parse_bootstrapper(reader, user=user)
            for reader in _tables(document, "bootstrapper", _BOOTSTRAPPER_KEYS)
        ),
    )


def _source(reader: _Reader, *, user: bool) -> str:
    # A user catalogue's facts default to naming the file they came from.
    if user:
        return reader.optional_text("source") or f"catalogue file {reader.where}"
    return reader.text("source")


def _tag(reader: _Reader, *, user: bool) -> Tag:
    tag = reader.tag()
    if tag is None:
        if not user:
            raise reader.error("missing key 'tag'")
        return "confirmed"
    return tag


def _parse_patches(reader: _Reader, line: Line) -> tuple[Version, ...]:
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


def _parse_line_entry(reader: _Reader, key: str, *, user: bool) -> _LineEntry:
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


def _parse_migration(reader: _Reader, *, user: bool) -> Migration:
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


def _parse_refused(reader: _Reader, *, user: bool) -> RefusedHop:
    return RefusedHop(
        from_pattern=reader.pattern("from"),
        to_pattern=reader.pattern("to"),
        reason=reader.text("reason"),
        source=_source(reader, user=user),
        tag=_tag(reader, user=user),
    )


def _parse_ucp(reader: _Reader, *, user: bool) -> UCPPairing:
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


def _parse_bootstrapper(reader: _Reader, *, user: bool) -> BootstrapperRule:
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
