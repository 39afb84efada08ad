"""The upgrade planner: the recommended stops from one DTR version to another.

The path stops on the latest known patch of every minor line it crosses (`2.4.3 -> 2.5.11 ->
2.6.4`). Before a major upgrade it first reaches the latest known release of the current major,
as the guide strongly recommends, then enters the next major at x+1.0.

Every hop of a path is itself allowed by `upgrade.rules.evaluate.evaluate` with the same catalogue;
when one is not (a catalogue refusal such as MSR 2.9 -> 3.x), there is no path. A path is
minimal: each hop crosses exactly one minor or major boundary, except a single patch hop to the
latest release of the current major before a major upgrade. Downgrades and `same` have no path.

A target the catalogue does not know is not planned: its line is not in the catalogue, or the
line's last patch is known and the target is not among its releases (`2.6.4 -> 2.99.0`, or
2.4.13 after 2.4.12). The plan refuses it, says it is unknown and names the catalogue and
`--catalog`, rather than inventing stops on lines no source lists. A target on a line whose
last patch is unknown (2.7.9 after the known 2.7.8) may be a later release and is planned, with
a warning.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from upgrade.rules.catalog import Catalog, Migration
from upgrade.rules.evaluate import ALLOWED_KINDS, Evaluation, evaluate
from upgrade.rules.versions import Version, format_line

__all__ = ["Plan", "plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """The answer to "can I upgrade DTR from `current` to `target`, and if not, how?".

    `evaluation` judges the direct move; `path` is the recommended route (starting with
    `current`, ending with `target`, empty when there is none); `migrations` are the jobs the
    route runs; `image` is the bootstrapper image for `target` ("" when none is known);
    `warnings` joins the evaluation's warnings and the planner's own; `known_target` is False
    when the catalogue does not know the target, which is then refused and not planned.
    """

    current: Version
    target: Version
    evaluation: Evaluation
    path: tuple[Version, ...]
    migrations: tuple[Migration, ...]
    image: str
    warnings: tuple[str, ...]
    known_target: bool = True

    @property
    def hops(self) -> tuple[tuple[Version, Version], ...]:
        """The path as consecutive (from, to) pairs, one per run of the bootstrapper."""
        return tuple(pairwise(self.path))


def plan(current: Version | str, target: Version | str, catalog: Catalog) -> Plan:
    """Plan the upgrade of DTR from `current` to `target` with the catalogue's releases.

    Raises `VersionError` when either side is not a well-formed version.
    """
    current = Version.coerce(current)
    target = Version.coerce(target)
    evaluation = evaluate(current, target, catalog)
    notes: list[str] = []
    path: tuple[Version, ...] = ()
    # A move the table allows but the catalogue refuses has no path: its reason says what to do.
    refused_by_catalog = evaluation.kind in ALLOWED_KINDS and not evaluation.allowed
    upward = target.release > current.release
    if upward and not catalog.may_be_release(target):
        evaluation = _unknown_target(evaluation, current, target, catalog)
        return Plan(current, target, evaluation, (), (), "", evaluation.warnings, False)
    if upward and not refused_by_catalog:
        path = (current, *_stops(current, target, catalog, notes), target)
        for step_from, step_to in pairwise(path):
            step = evaluate(step_from, step_to, catalog)
            if not step.allowed:
                notes.append(f"there is no upgrade path from {current} to {target}: {step.reason}")
                path = ()
                break
    migrations = catalog.migrations(current, target) if path else ()
    rule = catalog.bootstrapper_rule(target)
    image = f"{rule.repository}:{target.plain}" if rule is not None else ""  # tagged by release
    if rule is None and path:
        notes.append(
            f"no bootstrapper image is known for {target}: add a [[bootstrapper]] rule to a "
            "catalogue file (--catalog FILE) to name it."
        )
    warnings = tuple(dict.fromkeys((*evaluation.warnings, *notes)))
    return Plan(current, target, evaluation, path, migrations, image, warnings)


def _unknown_target(
    evaluation: Evaluation, current: Version, target: Version, catalog: Catalog
) -> Evaluation:
    """The refusal of a move to a version the catalogue does not know, naming the catalogue."""
    line = format_line(target.minor_line)
    known = catalog.known_versions(target.minor_line)
    listed = (
        f"its {line} line has {known[0]} to {known[-1]} and its last patch is known"
        if known
        else f"it lists no {line} line"
    )
    reason = (
        f"{current} -> {target}: the target version {target} is unknown: it is not a release in "
        f"the release catalogue ({catalog.describe()}; {listed}), so there is no plan to it. "
        f"Check the version; if {target} is a real release, add it to a catalogue file "
        f'([lines."{line}"] patches = "{target.patch}") and pass --catalog FILE.'
    )
    # The evaluation's own "not a known DTR release" warning is what this reason says.
    warnings = tuple(w for w in evaluation.warnings if not w.startswith("the target version "))
    return Evaluation(False, evaluation.kind, reason, warnings)


def _stops(current: Version, target: Version, catalog: Catalog, notes: list[str]) -> list[Version]:
    """The intermediate stops of the route from `current` up to `target` (both excluded)."""
    if target.major == current.major:
        return [
            _stop(current.major, minor, catalog, notes)
            for minor in range(current.minor + 1, target.minor)
        ]
    stops: list[Version] = []
    latest = catalog.latest_in_major(current.major)
    if latest is None:
        notes.append(
            f"the catalogue knows no release of DTR {current.major}.x, so the plan cannot "
            f"recommend its latest minor/patch before the upgrade to {current.major + 1}.0."
        )
    elif latest > current and latest.minor == current.minor:
        stops.append(_stop(current.major, current.minor, catalog, notes))
    elif latest > current:
        stops.extend(
            _stop(current.major, minor, catalog, notes)
            for minor in range(current.minor + 1, latest.minor + 1)
        )
    for major in range(current.major + 1, target.major):
        latest_of_major = catalog.latest_in_major(major)
        if latest_of_major is None:
            notes.append(
                f"the catalogue knows no release of DTR {major}.x, so the plan cannot recommend "
                f"its latest minor/patch before the upgrade to {major + 1}.0."
            )
        last_minor = latest_of_major.minor if latest_of_major is not None else 0
        stops.extend(_stop(major, minor, catalog, notes) for minor in range(last_minor + 1))
    stops.extend(_stop(target.major, minor, catalog, notes) for minor in range(target.minor))
    return stops


def _stop(major: int, minor: int, catalog: Catalog, notes: list[str]) -> Version:
    """The recommended stop on a line: its latest known patch, or x.y.0 when none is known."""
    line = format_line((major, minor))
    latest = catalog.latest_patch(major, minor)
    if latest is None:
        notes.append(
            f"the catalogue knows no {line} release: the plan assumes {line}.0; check the "
            f"release notes for the latest {line} patch."
        )
        return Version(major, minor, 0)
    if not catalog.line_complete(major, minor):
        notes.append(
            f"the plan stops at {latest}, the latest {line} release the catalogue knows; the "
            f"{line} line's last patch is unknown, so check the release notes for a later one."
        )
    return latest


def unfinished_upgrade(
    replica_versions: Iterable[str], target: Version | None, catalog: Catalog
) -> Version | None:
    """The version an unfinished upgrade to `target` started from, or None.

    The guide: when an upgrade fails, "re-run the upgrade command" and it resumes with the
    replicas not yet upgraded (seed, "Upgrade DTR"). Replicas on exactly two versions, the
    newer being `target` and the move from the older to `target` being one the guide allows,
    are such an upgrade cut short; anything else (three versions, a newer version that is not
    the target, a move the guide refuses) is not one this session may continue.
    """
    if target is None:
        return None
    parsed = {Version.parse(v) for v in replica_versions}
    releases = sorted({v.release for v in parsed})
    if len(releases) != 2 or releases[1] != target.release:
        return None
    # Builds of one release are that release (`2.7.0-29094adc` is 2.7.0, versions.py).
    older = min(v for v in parsed if v.release == releases[0])
    return older if evaluate(older, target, catalog).allowed else None


def one_release(replica_versions: Iterable[str]) -> Version | None:
    """The version every replica runs, compared as releases, or None when they run different
    releases: the build they all report (`2.7.0-29094adc`), or the plain release when they
    report different builds of it."""
    parsed = {Version.parse(v) for v in replica_versions}
    releases = {v.release for v in parsed}
    if len(releases) != 1:
        return None
    return parsed.pop() if len(parsed) == 1 else releases.pop()
