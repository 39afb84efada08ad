"""DTR versions and the upgrade rules of the "Upgrade DTR" guide.

A version is MAJOR.MINOR.PATCH with an optional `-suffix` (`2.7.0-29094adc`, `2.6.0-tp1`). The
suffix is kept and orders a build before its plain release, but it never changes which rule
applies. `evaluate` places a move from one version to another in exactly one row of the guide's
table (or `same`) and says whether the guide allows it:

| kind               | example              | allowed |
|--------------------|----------------------|---------|
| `patch-upgrade`    | 2.6.0 -> 2.6.1       | yes     |
| `skip-patch`       | 2.6.0 -> 2.6.4       | yes     |
| `patch-downgrade`  | 2.6.4 -> 2.6.1       | no      |
| `minor-upgrade`    | 2.5.3 -> 2.6.4       | yes     |
| `skip-minor`       | 2.4.3 -> 2.6.4       | no      |
| `minor-downgrade`  | 2.6.4 -> 2.5.11      | no      |
| `skip-major`       | 2.9.30 -> 4.0.0      | no      |
| `major-downgrade`  | 3.0.0 -> 2.9.30      | no      |
| `major-upgrade`    | 2.10.3 -> 3.0.2      | yes     |
| `major-skip-minor` | 2.10.3 -> 3.1.0      | no      |
| `same`             | 2.6.4 -> 2.6.4       | no (nothing to upgrade) |

Corner cases, decided here once:
- Within one minor line the move is a patch move whatever the suffixes say: `2.7.0-tp1 -> 2.7.0`
  and `2.7.0 -> 2.7.1-rc1` are `patch-upgrade`, `2.7.0 -> 2.7.0-tp1` is `patch-downgrade`. A move
  to the next patch (or to another build of the same patch) is `patch-upgrade`; a move of two or
  more patches is `skip-patch`. Only an identical version (suffix included) is `same`.
- A major upgrade may land on any patch of x+1.0 (`2.10.3 -> 3.0.5` is `major-upgrade`); landing
  on x+1.1 or later is `major-skip-minor`, whatever the patch.

The rules hold for any well-formed version, known release or not. A catalogue only tightens
them: it refuses hops the product cannot do with `upgrade` (MSR 2.9 -> 3.x is a migration with
the Mirantis Migration Tool) and adds warnings; it never allows a move the table refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, get_args

if TYPE_CHECKING:
    from upgrade.rules.catalog import Catalog

__all__ = [
    "ALLOWED_KINDS",
    "KINDS",
    "Evaluation",
    "Kind",
    "Version",
    "VersionError",
    "classify",
    "evaluate",
    "format_line",
]

Kind = Literal[
    "patch-upgrade",
    "skip-patch",
    "patch-downgrade",
    "minor-upgrade",
    "skip-minor",
    "minor-downgrade",
    "skip-major",
    "major-downgrade",
    "major-upgrade",
    "major-skip-minor",
    "same",
]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
"""Every kind `evaluate` can return: the ten rows of the guide's table, then `same`."""

ALLOWED_KINDS: Final[frozenset[Kind]] = frozenset(
    {"patch-upgrade", "skip-patch", "minor-upgrade", "major-upgrade"}
)
"""The kinds the guide's table allows."""

_EXPECTED: Final = "expected MAJOR.MINOR.PATCH with an optional -suffix, e.g. 2.6.4"
# Nine digits at most: enough for any release, and int() never sees a huge digit string.
_NUMBER: Final = r"(0|[1-9][0-9]{0,8})"
_VERSION_RE: Final = re.compile(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-([0-9A-Za-z][0-9A-Za-z.-]*))?", re.ASCII
)

# The guide's own words, quoted in every reason so an operator can find the rule in the document.
_RULE_PATCH: Final = (
    '"when upgrading from one patch version to another, you can skip patch versions because no '
    'data migration is done for patch versions"'
)
_RULE_MINOR: Final = (
    '"you can upgrade from any patch version of the previous minor version to any patch version '
    'of the current minor version"'
)
_RULE_NO_SKIP_MINOR: Final = '"when upgrading between minor versions, you cannot skip versions"'
_RULE_MAJOR: Final = (
    '"make sure to upgrade one major version at a time - and also upgrade to the earliest '
    'available minor version"'
)
_RULE_NO_DOWNGRADE: Final = '"downgrades are not supported"'
_RULE_LATEST_FIRST: Final = (
    '"we strongly recommend upgrading to the latest minor/patch version for your major version '
    'first"'
)


class VersionError(ValueError):
    """A version string is not MAJOR.MINOR.PATCH with an optional -suffix.

    The message is one line (the bad value is quoted with `repr`, so even a value holding a
    newline prints on one line) and names the expected form.
    """

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(f"malformed version {value!r}: {_EXPECTED}")


def format_line(line: tuple[int, int]) -> str:
    """The usual way to write a minor line: `(2, 6)` -> `"2.6"`."""
    return f"{line[0]}.{line[1]}"


@dataclass(frozen=True, slots=True)
class Version:
    """A DTR version: MAJOR.MINOR.PATCH and an optional suffix (kept without its dash).

    Versions are totally ordered by (major, minor, patch); at equal numbers a suffixed build
    sorts before the plain release (`2.7.0-tp1 < 2.7.0`), and suffixes compare as strings.
    """

    major: int
    minor: int
    patch: int
    suffix: str = ""
    _key: tuple[int, int, int, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            number = getattr(self, name)
            if type(number) is not int or number < 0:
                raise VersionError(f"{self.major}.{self.minor}.{self.patch}")
        if type(self.suffix) is not str or (
            self.suffix and not _VERSION_RE.fullmatch(f"0.0.0-{self.suffix}")
        ):
            raise VersionError(f"{self.major}.{self.minor}.{self.patch}-{self.suffix}")
        key = (self.major, self.minor, self.patch, 0 if self.suffix else 1, self.suffix)
        object.__setattr__(self, "_key", key)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `2.6.4` or `2.7.0-29094adc`; anything else raises `VersionError`.

        Surrounding whitespace, a leading `v`, leading zeros and missing parts are all refused,
        so `str(Version.parse(text)) == text` for every accepted text.
        """
        if not isinstance(text, str):
            raise VersionError(text)
        match = _VERSION_RE.fullmatch(text)
        if match is None:
            raise VersionError(text)
        major, minor, patch, suffix = match.groups()
        return cls(int(major), int(minor), int(patch), suffix or "")

    @classmethod
    def coerce(cls, value: Version | str) -> Version:
        """Return `value` itself if it is a `Version`, else parse it."""
        return value if isinstance(value, Version) else cls.parse(value)

    @property
    def minor_line(self) -> tuple[int, int]:
        """The (major, minor) line this version belongs to, e.g. `(2, 6)` for 2.6.4."""
        return (self.major, self.minor)

    @property
    def release(self) -> Version:
        """The plain release this version is a build of (itself when it has no suffix)."""
        return Version(self.major, self.minor, self.patch) if self.suffix else self

    def __str__(self) -> str:
        plain = f"{self.major}.{self.minor}.{self.patch}"
        return f"{plain}-{self.suffix}" if self.suffix else plain

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key <= other._key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key > other._key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key >= other._key


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the guide says about moving from one version to another.

    `kind` is the row of the guide's table (or `same`); `reason` is one sentence quoting the
    rule; `warnings` are catalogue facts the operator should read before going ahead.
    """

    allowed: bool
    kind: Kind
    reason: str
    warnings: tuple[str, ...] = ()


def evaluate(
    current: Version | str, target: Version | str, catalog: Catalog | None = None
) -> Evaluation:
    """Evaluate the move `current -> target` by the guide's table, then by the catalogue if given.

    Raises `VersionError` when either side is not a well-formed version.
    """
    current = Version.coerce(current)
    target = Version.coerce(target)
    kind = classify(current, target)
    allowed = kind in ALLOWED_KINDS
    reason = _reason(kind, current, target)
    if catalog is None:
        return Evaluation(allowed, kind, reason)
    refusal = catalog.exception_for(current, target) if allowed else None
    if refusal is not None:
        allowed = False
        reason = f"{current} -> {target} is refused by the release catalogue: {refusal.reason}."
    warnings = _catalog_warnings(kind, current, target, catalog)
    return Evaluation(allowed, kind, reason, warnings)


def classify(current: Version, target: Version) -> Kind:
    """The row of the guide's table that `current -> target` falls in (or `same`)."""
    if current == target:
        return "same"
    if target.major < current.major:
        return "major-downgrade"
    if target.major > current.major + 1:
        return "skip-major"
    if target.major == current.major + 1:
        return "major-upgrade" if target.minor == 0 else "major-skip-minor"
    if target.minor < current.minor:
        return "minor-downgrade"
    if target.minor > current.minor + 1:
        return "skip-minor"
    if target.minor == current.minor + 1:
        return "minor-upgrade"
    if target < current:
        return "patch-downgrade"
    return "skip-patch" if target.patch > current.patch + 1 else "patch-upgrade"


def _reason(kind: Kind, current: Version, target: Version) -> str:
    move = f"{current} -> {target}"
    if kind == "same":
        return (
            f"{move}: DTR is already on the target version, so there is nothing to upgrade "
            "(post-upgrade checks can still run with --phase=post)."
        )
    if kind == "patch-upgrade":
        return f"{move} is a patch upgrade: allowed, because {_RULE_PATCH}."
    if kind == "skip-patch":
        return f"{move} skips patch versions: allowed, because {_RULE_PATCH}."
    if kind == "minor-upgrade":
        return f"{move} is a minor upgrade: allowed, because {_RULE_MINOR}."
    if kind == "major-upgrade":
        return (
            f"{move} is a major upgrade to the earliest minor version {target.major}.0: "
            f"allowed, because the guide says to {_RULE_MAJOR}."
        )
    if kind == "skip-minor":
        skipped = ", ".join(
            f"{current.major}.{minor}" for minor in range(current.minor + 1, target.minor)
        )
        return (
            f"{move} skips minor version {skipped}: refused, because {_RULE_NO_SKIP_MINOR}; "
            f"upgrade to {current.major}.{current.minor + 1} first."
        )
    if kind == "skip-major":
        skipped = ", ".join(str(major) for major in range(current.major + 1, target.major))
        return (
            f"{move} skips major version {skipped}: refused, because the guide says to "
            f"{_RULE_MAJOR}; upgrade to {current.major + 1}.0 first."
        )
    if kind == "major-skip-minor":
        return (
            f"{move} is a major upgrade that lands on {target.major}.{target.minor} instead of "
            f"the earliest minor version {target.major}.0: refused, because the guide says to "
            f"{_RULE_MAJOR}; upgrade to {target.major}.0 first."
        )
    direction = {
        "patch-downgrade": "a patch downgrade",
        "minor-downgrade": "a minor downgrade",
        "major-downgrade": "a major downgrade",
    }[kind]
    return (
        f"{move} is {direction}: refused, because {_RULE_NO_DOWNGRADE}; restore a backup taken "
        f"at {target} to go back."
    )


def _catalog_warnings(
    kind: Kind, current: Version, target: Version, catalog: Catalog
) -> tuple[str, ...]:
    warnings: list[str] = []
    for role, version in (("current", current), ("target", target)):
        if not catalog.is_known(version):
            warnings.append(_unknown_release(role, version, catalog))
    if kind == "same":
        return tuple(warnings)
    if kind == "major-upgrade":
        latest = catalog.latest_in_major(current.major)
        if latest is None:
            warnings.append(
                f"the catalogue knows no release of DTR {current.major}.x, so it cannot tell "
                f"whether {current} is the latest minor/patch of its major version; the guide "
                f"says {_RULE_LATEST_FIRST}."
            )
        elif current < latest:
            known = "" if catalog.line_complete(*latest.minor_line) else " known"
            warnings.append(
                f"{current} is not the latest{known} release of DTR {current.major}.x "
                f"({latest}); the guide says {_RULE_LATEST_FIRST}."
            )
    lines = dict.fromkeys(
        version.minor_line for version in (current, target) if catalog.is_known(version)
    )
    for line in lines:
        if not catalog.line_complete(*line):
            warnings.append(
                f"the last patch of the {format_line(line)} line is not known to the catalogue "
                f"(latest known: {catalog.latest_patch(*line)}); check the release notes for a "
                "later patch."
            )
    return tuple(warnings)


def _unknown_release(role: str, version: Version, catalog: Catalog) -> str:
    line = version.minor_line
    if version.suffix and catalog.is_known(version.release):
        return (
            f"the {role} version {version} is a build of {version.release} (suffix "
            f"-{version.suffix}), not a release listed in the catalogue."
        )
    if not catalog.known_versions(line):
        return (
            f"the {role} version {version} is not a known DTR release: the catalogue lists no "
            f"{format_line(line)} line; check the version (the upgrade rules still apply)."
        )
    if not catalog.line_complete(*line):
        return (
            f"the {role} version {version} is not in the catalogue; the {format_line(line)} "
            "line's last patch is unknown, so it may be a later release: check the version."
        )
    return (
        f"the {role} version {version} is not a known DTR release (the {format_line(line)} line "
        f"has {_describe(catalog.known_versions(line))}); check the version."
    )


def _describe(versions: tuple[Version, ...]) -> str:
    if len(versions) == 1:
        return str(versions[0])
    return f"{versions[0]} to {versions[-1]}"
