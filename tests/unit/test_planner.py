"""The planner: recommended stops, allowed hops, minimal paths, and no path where none exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrade.rules.catalog import Catalog, ReleaseLine
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.evaluate import evaluate
from upgrade.rules.planner import Plan, plan
from upgrade.rules.versions import Version

RANDOM_VERSIONS = st.builds(
    Version,
    major=st.integers(1, 6),
    minor=st.integers(0, 12),
    patch=st.integers(0, 35),
    suffix=st.sampled_from(["", "", "", "tp1", "rc1"]),
)
# Random versions are mostly unknown to a catalogue, and an unknown target is never planned:
# half the draws are releases a catalogue knows, so the properties meet real paths too.
KNOWN_VERSIONS = st.sampled_from(
    [
        *load_catalog().known_versions(),
        *(Version(4, 0, p) for p in range(4)),
        *(Version(4, 1, p) for p in range(3)),
        *(Version(4, 2, p) for p in range(6)),
        Version(5, 0, 0),
        Version(5, 0, 1),
        Version(5, 1, 0),
        *(Version(6, 0, p) for p in range(3)),
    ]
)
VERSIONS = st.one_of(RANDOM_VERSIONS, KNOWN_VERSIONS)


def v(text: str) -> Version:
    return Version.parse(text)


def _line(major: int, minor: int, last: int, *, complete: bool = True) -> ReleaseLine:
    return ReleaseLine(
        line=(major, minor),
        versions=tuple(Version(major, minor, patch) for patch in range(last + 1)),
        last_patch_known=complete,
        source="test",
        tag="confirmed",
    )


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def majors() -> Catalog:
    """Three majors without refusals, so major upgrades have paths."""
    return Catalog(
        lines=[
            _line(4, 0, 3),
            _line(4, 1, 2),
            _line(4, 2, 5, complete=False),
            _line(5, 0, 1),
            _line(5, 1, 0),
            _line(6, 0, 2),
        ]
    )


def _path(result: Plan) -> list[str]:
    return [str(version) for version in result.path]


# Examples


def test_the_acceptance_example(shipped: Catalog) -> None:
    result = plan("2.4.3", "2.6.4", shipped)
    assert (result.evaluation.allowed, result.evaluation.kind) == (False, "skip-minor")
    assert _path(result) == ["2.4.3", "2.5.11", "2.6.4"]
    assert [(m.from_line, m.to_line, m.job) for m in result.migrations] == [
        ("2.4", "2.5", "scannedlayermigration"),
        ("2.5", "2.6", "metadatastoremigration"),
    ]
    assert result.image == "docker/dtr:2.6.4"
    assert result.hops == ((v("2.4.3"), v("2.5.11")), (v("2.5.11"), v("2.6.4")))


@pytest.mark.parametrize(
    ("current", "target", "path"),
    [
        ("2.6.0", "2.6.4", ["2.6.0", "2.6.4"]),
        ("2.5.3", "2.6.4", ["2.5.3", "2.6.4"]),
        ("2.3.0", "2.5.0", ["2.3.0", "2.4.12", "2.5.0"]),
        ("2.5.0", "2.8.2", ["2.5.0", "2.6.15", "2.7.8", "2.8.2"]),
        (
            "2.3.0",
            "2.10.3",
            ["2.3.0", "2.4.12", "2.5.11", "2.6.15", "2.7.8", "2.8.13", "2.9.30", "2.10.3"],
        ),
        ("2.7.0-29094adc", "2.7.8", ["2.7.0-29094adc", "2.7.8"]),
        ("2.8.13", "2.10.4", ["2.8.13", "2.9.30", "2.10.4"]),  # 2.10's last patch is unknown
    ],
)
def test_paths_stop_at_the_latest_patch_of_every_crossed_minor(
    shipped: Catalog, current: str, target: str, path: list[str]
) -> None:
    assert _path(plan(current, target, shipped)) == path


@pytest.mark.parametrize(
    ("current", "target", "path"),
    [
        ("4.0.1", "5.0.1", ["4.0.1", "4.1.2", "4.2.5", "5.0.1"]),
        ("4.2.0", "5.0.0", ["4.2.0", "4.2.5", "5.0.0"]),
        ("4.2.5", "5.0.0", ["4.2.5", "5.0.0"]),
        ("4.2.5", "5.1.0", ["4.2.5", "5.0.1", "5.1.0"]),
        ("4.1.0", "6.0.2", ["4.1.0", "4.2.5", "5.0.1", "5.1.0", "6.0.2"]),
        ("4.9.0", "5.0.0", ["4.9.0", "5.0.0"]),
        ("3.2.1", "4.1.0", ["3.2.1", "4.0.3", "4.1.0"]),
    ],
)
def test_major_upgrades_first_reach_the_latest_release_of_the_current_major(
    majors: Catalog, current: str, target: str, path: list[str]
) -> None:
    assert _path(plan(current, target, majors)) == path


def test_a_stop_on_a_line_with_unknown_last_patch_is_warned_about(shipped: Catalog) -> None:
    result = plan("2.5.0", "2.7.1", shipped)
    assert _path(result) == ["2.5.0", "2.6.15", "2.7.1"]
    assert any("stops at 2.6.15, the latest 2.6 release" in w for w in result.warnings)


def test_a_line_without_known_release_stops_at_x_y_0_and_warns() -> None:
    catalog = Catalog(lines=[_line(4, 0, 3), _line(4, 2, 5)])
    result = plan("4.0.3", "4.2.1", catalog)
    assert _path(result) == ["4.0.3", "4.1.0", "4.2.1"]
    assert any("the plan assumes 4.1.0" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("current", "target", "listed"),
    [
        ("2.6.4", "2.99.0", "it lists no 2.99 line"),
        ("2.10.0", "2.12.1", "it lists no 2.12 line"),
        ("2.4.3", "2.4.13", "its 2.4 line has 2.4.0 to 2.4.12 and its last patch is known"),
        ("2.5.3", "2.5.4", "its 2.5 line has 2.5.0 to 2.5.11 and its last patch is known"),
        ("2.10.3", "4.0.0", "it lists no 4.0 line"),
    ],
)
def test_an_unknown_target_is_said_to_be_unknown_not_planned(
    shipped: Catalog, current: str, target: str, listed: str
) -> None:
    """`plan 2.6.4 -> 2.99.0` used to invent 92 hops through x.y.0 stops no source lists."""
    result = plan(current, target, shipped)
    assert (result.path, result.hops, result.migrations, result.image) == ((), (), (), "")
    assert not result.known_target
    assert not result.evaluation.allowed
    reason = result.evaluation.reason
    assert f"the target version {target} is unknown" in reason
    assert listed in reason
    assert "the shipped catalogue upgrade/data/catalog.toml" in reason
    assert "--catalog FILE" in reason
    assert not any("the plan assumes" in w or "not a known DTR" in w for w in result.warnings)


def test_a_user_catalogue_makes_a_target_known(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[lines."2.11"]\npatches = "0-1"\n', "utf-8")
    catalog = load_catalog(site)
    result = plan("2.10.3", "2.11.1", catalog)
    assert result.known_target
    assert _path(result) == ["2.10.3", "2.11.1"]
    unknown = plan("2.10.3", "2.12.0", catalog)
    assert f"extended by {site}" in unknown.evaluation.reason


@pytest.mark.parametrize(("current", "target"), [("2.9.30", "2.9.31"), ("2.7.8", "2.7.9")])
def test_a_later_patch_of_a_line_with_unknown_last_patch_is_planned(
    shipped: Catalog, current: str, target: str
) -> None:
    result = plan(current, target, shipped)
    assert result.known_target
    assert result.evaluation.allowed
    assert _path(result) == [current, target]
    assert any("may be a later release" in w for w in result.warnings)


def test_a_major_without_known_release_is_warned_about(majors: Catalog) -> None:
    result = plan("3.2.1", "4.1.0", majors)
    assert any("knows no release of DTR 3.x" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("current", "target", "kind"),
    [
        ("2.6.4", "2.6.3", "patch-downgrade"),
        ("2.6.4", "2.5.11", "minor-downgrade"),
        ("3.0.0", "2.9.30", "major-downgrade"),
        ("2.6.4", "2.6.4", "same"),
        ("2.7.0", "2.7.0-tp1", "patch-downgrade"),  # a pre-release is not its release
        ("2.7.0-29094adc", "2.7.0", "same"),
    ],
)
def test_downgrades_and_same_have_no_path(
    shipped: Catalog, current: str, target: str, kind: str
) -> None:
    result = plan(current, target, shipped)
    assert result.evaluation.kind == kind
    assert (result.path, result.hops, result.migrations) == ((), (), ())


def test_a_catalogue_refusal_has_no_path(shipped: Catalog) -> None:
    result = plan("2.9.30", "3.0.0", shipped)
    assert not result.evaluation.allowed
    assert result.path == ()
    assert result.image == ""
    assert "Mirantis Migration Tool" in result.evaluation.reason


def test_a_route_through_a_refused_hop_has_no_path_and_says_which(shipped: Catalog) -> None:
    result = plan("2.8.0", "3.1.0", shipped)
    assert result.evaluation.kind == "major-skip-minor"
    assert result.path == ()
    assert any(
        w.startswith("there is no upgrade path from 2.8.0 to 3.1.0: 2.10.3 -> 3.0.0 is refused")
        for w in result.warnings
    )


def test_plan_refuses_malformed_versions(shipped: Catalog) -> None:
    with pytest.raises(ValueError, match=r"malformed version '2\.6'"):
        plan("2.6", "2.6.4", shipped)


# Properties


def _check_plan(result: Plan, catalog: Catalog) -> None:
    current, target = result.current, result.target
    if target.release <= current.release:
        assert result.path == ()
        return
    if not result.path:
        # Only a refusal (of the move or of a hop on the route) or an unknown target leaves no
        # path, and an unknown target is one the catalogue cannot have released.
        if not result.known_target:
            assert not catalog.may_be_release(target)
            assert not result.evaluation.allowed
            return
        assert any("refused" in text for text in (result.evaluation.reason, *result.warnings))
        return
    path = result.path
    assert (path[0], path[-1]) == (current, target)
    assert all(a < b for a, b in result.hops)
    for index, (a, b) in enumerate(result.hops):
        step = evaluate(a, b, catalog)
        assert step.allowed, (a, b, step.reason)
        # Each hop is one step: within a line, one minor up, or one major up onto x.0.
        if step.kind in ("patch-upgrade", "skip-patch"):
            patch_stop = index == 0 and len(path) > 2 and path[2].major == a.major + 1
            assert len(path) == 2 or patch_stop, (a, b)
            if patch_stop:
                assert b == catalog.latest_in_major(a.major)
    # Minimal: no interior stop can be dropped, except the recommended latest release of the
    # current major before a major upgrade.
    for index in range(1, len(path) - 1):
        if path[index + 1].major == path[index].major + 1 and path[
            index
        ] == catalog.latest_in_major(path[index].major):
            continue
        assert not evaluate(path[index - 1], path[index + 1]).allowed, path
    if target.major == current.major:
        assert len(result.hops) == max(1, target.minor - current.minor)


@given(a=VERSIONS, b=VERSIONS)
def test_every_hop_of_every_plan_is_allowed_and_plans_are_minimal(
    shipped: Catalog, majors: Catalog, a: Version, b: Version
) -> None:
    for catalog in (shipped, majors):
        _check_plan(plan(a, b, catalog), catalog)
        _check_plan(plan(b, a, catalog), catalog)


@given(current=VERSIONS, target=VERSIONS)
def test_an_allowed_move_is_planned_directly_or_after_finishing_the_current_major(
    majors: Catalog, current: Version, target: Version
) -> None:
    result = plan(current, target, majors)
    if not result.evaluation.allowed:
        return
    if target.major == current.major:
        assert result.path == (current, target)
    else:
        assert all(stop.major == current.major for stop in result.path[:-1])
        assert result.path[-2] >= (majors.latest_in_major(current.major) or current)


@given(current=VERSIONS, target=VERSIONS)
def test_migrations_belong_to_the_path(shipped: Catalog, current: Version, target: Version) -> None:
    result = plan(current, target, shipped)
    crossed = {(a.minor_line, b.minor_line) for a, b in result.hops}
    for migration in result.migrations:
        assert migration.hop in crossed


@pytest.mark.parametrize(
    ("versions", "target", "resumed"),
    [
        (["2.5.11", "2.6.15"], "2.6.15", "2.5.11"),
        (["2.6.4", "2.6.15"], "2.6.15", "2.6.4"),
        (["2.5.11", "2.6.15"], "2.6.4", None),  # the newer one is not the target
        (["2.4.3", "2.6.15"], "2.6.15", None),  # a skipped minor is no upgrade to resume
        (["2.5.11", "2.6.4", "2.6.15"], "2.6.15", None),  # three versions
        (["2.6.15"], "2.6.15", None),  # nothing unfinished
        (["2.5.11", "2.6.15"], None, None),  # no target: a health check resumes nothing
        (["2.6.15", "2.7.0-29094adc"], "2.7.0", "2.6.15"),  # a build of the target release
    ],
)
def test_an_unfinished_upgrade_is_only_the_one_to_the_target(
    shipped: Catalog, versions: list[str], target: str | None, resumed: str | None
) -> None:
    from upgrade.rules.planner import unfinished_upgrade

    found = unfinished_upgrade(versions, Version.parse(target) if target else None, shipped)
    assert (str(found) if found else None) == resumed
