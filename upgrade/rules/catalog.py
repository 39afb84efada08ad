"""The release catalogue: released DTR versions, UCP/MKE pairings, per-hop migrations, refusals.

The shipped catalogue (`upgrade/data/catalog.toml`) holds the facts of the fact sheet, each with
its source and a confirmed/inferred tag; a user catalogue file of the same shape extends it
(reading and layering the files is `upgrade.rules.catalog_file`). This module is the model and
its queries. Catalogue facts only ever tighten the guide's rules (see
`upgrade.rules.evaluate`).

UCP pairing decision: a UCP older than the line DTR is paired with is incompatible; one inside
the paired range is compatible; one newer than the range is *unknown* (`compatible is None`),
because the sources name no DTR release that supports it, and the guide asks to check the
compatibility matrix rather than assume.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final, Literal

from upgrade.rules.versions import Version, format_line

__all__ = [
    "BootstrapperRule",
    "Catalog",
    "CatalogError",
    "Compatibility",
    "Migration",
    "RefusedHop",
    "ReleaseLine",
    "UCPPairing",
    "parse_line",
]

Tag = Literal["confirmed", "inferred", "disputed"]
Line = tuple[int, int]

_LINE_RE: Final = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", re.ASCII)


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
        return (parse_line(self.from_line), parse_line(self.to_line))


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

        A suffixed version is placed by its numbers: 2.7.0-tp1 belongs to 2.7.0's rule, not to a
        rule that ends before 2.7.0.
        """
        release = version.plain
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

    # Releases

    def lines(self) -> tuple[ReleaseLine, ...]:
        """Every minor line the catalogue knows, oldest first."""
        return tuple(self._lines[line] for line in sorted(self._lines))

    def known_versions(self, line: Line | str | None = None) -> tuple[Version, ...]:
        """The known releases of `line` (`(2, 6)` or `"2.6"`), or of every line; oldest first."""
        if line is None:
            return tuple(version for entry in self.lines() for version in entry.versions)
        entry = self._lines.get(line if isinstance(line, tuple) else parse_line(line))
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

    def may_be_release(self, version: Version) -> bool:
        """True when `version`'s release is listed, or may be a release the catalogue has not
        recorded: its line is known and the line's last patch is not. A pre-release never is
        (the catalogue lists releases; upgrade.rules.versions)."""
        release = version.release
        if version.is_prerelease:
            return False
        if self.is_known(release):
            return True
        entry = self._lines.get(release.minor_line)
        return entry is not None and not entry.last_patch_known

    def describe(self) -> str:
        """The catalogue's files as an operator reads them: the shipped file, then --catalog's."""
        shipped = "the shipped catalogue upgrade/data/catalog.toml"
        if len(self.files) > 1:
            return f"{shipped}, extended by {', '.join(self.files[1:])}"
        return shipped

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
        # Tagged by release, never by a build or pre-release suffix (upgrade.rules.versions).
        return f"{rule.repository}:{version.plain}"

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

    def ucp_requirement(self, dtr: Version) -> str | None:
        """The UCP/MKE lines DTR `dtr` is paired with, as written (`UCP 3.0`, `MKE 3.4-3.8`),
        None when the catalogue has no pairing for its line."""
        pairing = self.ucp_pairing(dtr)
        return _describe_range(pairing) if pairing is not None else None

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


def parse_line(text: str) -> Line:
    """Parse a minor line written MAJOR.MINOR, e.g. `2.6`."""
    match = _LINE_RE.fullmatch(text)
    if match is None:
        raise CatalogError(f"malformed minor line {text!r}: expected MAJOR.MINOR, e.g. 2.6")
    return (int(match.group(1)), int(match.group(2)))


def _pattern_matches(pattern: str, version: Version) -> bool:
    parts = tuple(int(part) for part in pattern.split("."))
    return parts == version.minor_line[: len(parts)]
