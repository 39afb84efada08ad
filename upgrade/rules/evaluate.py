"""The upgrade rules of the "Upgrade DTR" guide, tightened by the release catalogue.

`evaluate` places a move from one version to another in exactly one row of the guide's table
(or `same`) and says whether the guide allows it; a version's `-suffix` never changes which
minor or major rule applies (`upgrade.rules.versions`):

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
- Releases are compared, not strings: a build suffix (a hex commit id) names a build of its
  release. A real DTR 2.7.0 reports `info.version` = `2.7.0-29094adc` in docs.json (the 2.7.0
  Swagger, dtr-api/dtr-2.7.0-swagger.json info.version; docker/docs
  `reference/dtr/2.7/api/main.js`; dtr-facts.md S14), while its backup directory
  (`dtr-backup-v<version>`, create-a-backup.md) and its `com.docker.dtr.version` label
  (launchpad `upgrade_msr.go`) carry the plain release (fidelity-review.md 2). So every build of
  one release is `same` as that release and as each other: `2.7.0-29094adc -> 2.7.0` is `same`.
- A pre-release (`-rc1`, `-tp1`, `-beta2`: any other suffix) is not its release:
  `2.7.0-rc1 -> 2.7.0` is `patch-upgrade` and `2.7.0 -> 2.7.0-rc1` is `patch-downgrade` (two
  pre-releases of one release are ordered by their suffixes as strings).
- Within one minor line the move is a patch move whatever the suffixes say: `2.7.0 -> 2.7.1-rc1`
  is `patch-upgrade`, `2.7.1-rc1 -> 2.7.0` is `patch-downgrade`. A move to the next patch is
  `patch-upgrade`; a move of two or more patches is `skip-patch`.
- A major upgrade may land on any patch of x+1.0 (`2.10.3 -> 3.0.5` is `major-upgrade`); landing
  on x+1.1 or later is `major-skip-minor`, whatever the patch.

The rules hold for any well-formed version, known release or not. A catalogue only tightens
them: it refuses hops the product cannot do with `upgrade` (MSR 2.9 -> 3.x is a migration with
the Mirantis Migration Tool) and adds warnings; it never allows a move the table refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from upgrade.rules.catalog import Catalog
from upgrade.rules.versions import Version, format_line

__all__ = [
    "ALLOWED_KINDS",
    "KINDS",
    "Evaluation",
    "Kind",
    "classify",
    "evaluate",
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
    if current.release == target.release:
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
    if target.patch < current.patch:
        return "patch-downgrade"
    if target.patch == current.patch:  # a pre-release and its release (module docstring)
        return "patch-upgrade" if target.release > current.release else "patch-downgrade"
    return "skip-patch" if target.patch > current.patch + 1 else "patch-upgrade"


def _reason(kind: Kind, current: Version, target: Version) -> str:
    move = f"{current} -> {target}"
    if kind == "same":
        build = (
            f" (release {target.release}; a hex -suffix names a build of its release)"
            if current.suffix or target.suffix
            else ""
        )
        return (
            f"{move}: DTR is already on the target version{build}, so there is nothing to "
            "upgrade (post-upgrade checks can still run with --phase=post)."
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
    # Only the target's line: for a patch or minor move the guide allows any patch of the
    # current line, so whether a later one exists there changes nothing (a major move has its
    # own warning above).
    line = target.minor_line
    latest = catalog.latest_patch(*line)
    complete = catalog.line_complete(*line)
    if latest is not None and catalog.is_known(target) and target < latest:
        known = "" if complete else " known"
        warnings.append(
            f"the target {target} is not the latest{known} patch of the {format_line(line)} "
            f"line ({latest}); the guide allows any patch, but a later one carries the line's "
            f"fixes: consider upgrading to {latest}"
            + ("." if complete else ", and check the release notes for a later patch still.")
        )
    elif latest is not None and catalog.is_known(target) and not complete:
        warnings.append(
            f"the last patch of the {format_line(line)} line is not known to the catalogue "
            f"(latest known: {latest}); check the release notes for a later patch."
        )
    return tuple(warnings)


def _unknown_release(role: str, version: Version, catalog: Catalog) -> str:
    line = version.minor_line
    if version.is_build and catalog.is_known(version.release):
        return (
            f"the {role} version {version} is a build of {version.release} (suffix "
            f"-{version.suffix}), not a release listed in the catalogue."
        )
    if version.is_prerelease:
        return (
            f"the {role} version {version} is a pre-release of {version.plain} (suffix "
            f"-{version.suffix}), not a release: the catalogue lists no pre-releases."
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
