"""The version type and the guide's upgrade table, row by row, with properties over all versions."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upgrade.rules.catalog import Catalog, ReleaseLine
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.evaluate import ALLOWED_KINDS, KINDS, evaluate
from upgrade.rules.versions import Version, VersionError, target_problem

SUFFIXES = st.sampled_from(["", "", "", "tp1", "tp2", "rc1", "29094adc", "beta.2"])
VERSIONS = st.builds(
    Version,
    major=st.integers(0, 5),
    minor=st.integers(0, 12),
    patch=st.integers(0, 35),
    suffix=SUFFIXES,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# Parsing


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("2.6.4", (2, 6, 4, "")),
        ("0.0.0", (0, 0, 0, "")),
        ("2.10.3", (2, 10, 3, "")),
        ("2.7.0-29094adc", (2, 7, 0, "29094adc")),
        ("2.6.0-tp1", (2, 6, 0, "tp1")),
        ("3.1.14-rc.1-x", (3, 1, 14, "rc.1-x")),
    ],
)
def test_parse_keeps_every_part_and_round_trips(
    text: str, parts: tuple[int, int, int, str]
) -> None:
    version = Version.parse(text)
    assert (version.major, version.minor, version.patch, version.suffix) == parts
    assert str(version) == text
    assert version.minor_line == parts[:2]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2.6",
        "2",
        "2.6.4.1",
        "v2.6.4",
        " 2.6.4",
        "2.6.4 ",
        "2.6.4\n",
        "2.06.4",
        "02.6.4",
        "2.6.04",
        "2.6.4-",
        "2.6.4--tp1",
        "2.6.4-tp_1",
        "2.6.4+build",
        "a.b.c",
        "2.6.x",
        "-2.6.4",
        "\u0662.\u0666.\u0664",  # Arabic-Indic digits are digits to \d, not to DTR
        "ucp/3.0.2",
        "2.6.1234567890",
        pytest.param("9" * 5000 + ".0.0", id="5000-digit-major"),
    ],
)
def test_parse_refuses_malformed_text_naming_value_and_form(text: str) -> None:
    with pytest.raises(VersionError) as caught:
        Version.parse(text)
    message = str(caught.value)
    assert message.startswith(f"malformed version {text!r}: expected MAJOR.MINOR.PATCH")
    assert "e.g. 2.6.4" in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_parse_refuses_a_value_that_is_not_text() -> None:
    with pytest.raises(VersionError, match="malformed version None"):
        Version.parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [(-1, 0, 0, ""), (2, -6, 4, ""), (2, 6, True, ""), (2, 6, 4, "bad suffix"), (2, 6, 4, None)],
)
def test_constructor_refuses_what_parse_would_refuse(fields: tuple[int, int, int, str]) -> None:
    with pytest.raises(VersionError):
        Version(*fields)


def test_malformed_version_message_is_the_documented_one() -> None:
    with pytest.raises(VersionError) as caught:
        Version.parse("2.6")
    assert str(caught.value) == (
        "malformed version '2.6': expected MAJOR.MINOR.PATCH with an optional -suffix, e.g. 2.6.4"
    )


# Ordering


@pytest.mark.parametrize(
    "ordered",
    [
        ["2.6.0-tp1", "2.6.0", "2.6.1", "2.6.10", "2.7.0", "2.10.0", "3.0.0"],
        ["2.7.0-29094adc", "2.7.0-rc1", "2.7.0-tp1", "2.7.0", "2.7.1-rc1", "2.7.1"],
        ["1.99.99", "2.0.0-a", "2.0.0-b", "2.0.0"],
    ],
)
def test_versions_sort_numerically_with_suffixes_before_the_release(ordered: list[str]) -> None:
    versions = [Version.parse(text) for text in ordered]
    shuffled = versions[1::2] + versions[::2]
    assert sorted(shuffled) == versions
    assert all(a < b and b > a and a <= b and a != b for a, b in pairwise(versions))


def test_versions_are_frozen_hashable_values() -> None:
    version = Version.parse("2.6.4")
    assert version == Version(2, 6, 4)
    assert {version, Version(2, 6, 4)} == {version}
    assert version != Version.parse("2.6.4-tp1")
    with pytest.raises(AttributeError):
        version.major = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "build"),
    [
        ("2.7.0-29094adc", True),  # the real 2.7.0 contract's info.version
        ("2.6.4-1a2b3c4", True),  # a 7-digit short commit id
        ("2.6.4-0123456789abcdef0123456789abcdef01234567", True),  # a full commit id
        ("2.6.4-rc1", False),
        ("2.6.4-beta2", False),
        ("2.6.4-tp3", False),
        ("2.6.4-alpha", False),
        ("2.6.4-beta.2", False),
        ("2.6.4-abcdef", False),  # six hex digits: too short for a commit id
        ("2.6.4-29094adz", False),  # a letter beyond hex
    ],
)
def test_only_a_hex_commit_suffix_is_a_build_of_the_release(text: str, build: bool) -> None:
    version = Version.parse(text)
    assert version.is_build is build
    assert version.is_prerelease is not build
    assert version.plain == Version(2, version.minor, version.patch)
    assert (version.release == version.plain) is build
    assert (version.release == version) is not build


def test_a_plain_release_is_neither_a_build_nor_a_pre_release() -> None:
    version = Version.parse("2.6.4")
    assert (version.is_build, version.is_prerelease) == (False, False)
    assert version.release is version
    assert version.plain is version


@pytest.mark.parametrize(
    ("current", "target", "kind"),
    [
        ("2.6.4-rc1", "2.6.4", "patch-upgrade"),  # the pre-release is not 2.6.4
        ("2.6.4", "2.6.4-rc1", "patch-downgrade"),
        ("2.6.4-29094adc", "2.6.4-rc1", "patch-downgrade"),
        ("2.6.4-rc1", "2.6.4-rc1", "same"),
    ],
)
def test_a_pre_release_is_not_its_release(current: str, target: str, kind: str) -> None:
    assert evaluate(current, target).kind == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.6.4", None),
        ("2.7.0-29094adc", "--to 2.7.0-29094adc: 2.7.0-29094adc is a build of release 2.7.0"),
        ("2.6.4-rc1", "--to 2.6.4-rc1: 2.6.4-rc1 is a pre-release, not a release"),
    ],
)
def test_a_target_must_be_a_release(text: str, expected: str | None) -> None:
    problem = target_problem("--to", Version.parse(text))
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.startswith(expected)
        assert "\n" not in problem


def test_comparing_with_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Version(2, 6, 4) < "2.6.5"  # type: ignore[operator]


@given(VERSIONS, VERSIONS, VERSIONS)
def test_order_is_total_and_consistent(a: Version, b: Version, c: Version) -> None:
    assert sum((a < b, a == b, a > b)) == 1
    assert (a <= b) == (a < b or a == b)
    if a <= b and b <= c:
        assert a <= c
    assert Version.parse(str(a)) == a


# The guide's table, row by row

TABLE = {
    "patch-upgrade": (True, [("2.6.0", "2.6.1"), ("2.5.10", "2.5.11"), ("3.1.0", "3.1.1")]),
    "skip-patch": (True, [("2.6.0", "2.6.2"), ("2.4.3", "2.4.12"), ("2.9.0", "2.9.30")]),
    "patch-downgrade": (False, [("2.6.2", "2.6.1"), ("2.5.11", "2.5.0"), ("2.9.30", "2.9.29")]),
    "minor-upgrade": (
        True,
        [("2.5.0", "2.6.0"), ("2.5.11", "2.6.4"), ("2.4.3", "2.5.0"), ("2.9.30", "2.10.0")],
    ),
    "skip-minor": (False, [("2.4.3", "2.6.4"), ("2.5.0", "2.7.0"), ("2.3.11", "2.10.3")]),
    "minor-downgrade": (False, [("2.6.4", "2.5.11"), ("2.6.0", "2.5.11"), ("2.10.0", "2.4.0")]),
    "skip-major": (False, [("2.9.30", "4.0.0"), ("1.0.0", "3.0.0"), ("2.10.3", "5.1.2")]),
    "major-downgrade": (False, [("3.0.0", "2.9.30"), ("3.1.14", "2.10.3"), ("4.0.0", "1.9.9")]),
    "major-upgrade": (True, [("2.10.3", "3.0.0"), ("2.9.30", "3.0.0"), ("1.4.2", "2.0.5")]),
    "major-skip-minor": (False, [("2.9.30", "3.1.0"), ("2.10.3", "3.1.14"), ("1.4.2", "2.5.3")]),
    "same": (
        False,
        [
            ("2.6.4", "2.6.4"),
            ("2.7.0-tp1", "2.7.0-tp1"),
            ("0.0.0", "0.0.0"),
            ("2.7.0-29094adc", "2.7.0"),
            ("2.7.0", "2.7.0-29094adc"),
        ],
    ),
}
CASES = [
    pytest.param(current, target, kind, allowed, id=f"{kind}:{current}->{target}")
    for kind, (allowed, pairs) in TABLE.items()
    for current, target in pairs
]


def test_the_table_covers_every_kind() -> None:
    assert set(TABLE) == set(KINDS)
    assert len(KINDS) == 11
    assert {kind for kind, (allowed, _) in TABLE.items() if allowed} == ALLOWED_KINDS


@pytest.mark.parametrize(("current", "target", "kind", "allowed"), CASES)
def test_each_row_of_the_guide_table(current: str, target: str, kind: str, allowed: bool) -> None:
    evaluation = evaluate(current, target)
    assert (evaluation.kind, evaluation.allowed) == (kind, allowed)
    assert f"{current} -> {target}" in evaluation.reason
    assert "\n" not in evaluation.reason
    assert evaluation.warnings == ()


@pytest.mark.parametrize(("current", "target", "kind", "allowed"), CASES)
def test_the_shipped_catalogue_keeps_every_refusal(
    catalog: Catalog, current: str, target: str, kind: str, allowed: bool
) -> None:
    evaluation = evaluate(current, target, catalog)
    assert evaluation.kind == kind
    if not allowed:
        assert not evaluation.allowed


@pytest.mark.parametrize(
    ("current", "target", "kind"),
    [
        ("2.7.0", "2.7.1-rc1", "patch-upgrade"),
        ("2.7.0-29094adc", "2.7.1", "patch-upgrade"),
        ("2.7.0-29094adc", "2.7.2", "skip-patch"),
        ("2.7.1-rc1", "2.7.0", "patch-downgrade"),
        ("2.7.1", "2.7.0-29094adc", "patch-downgrade"),
        ("2.6.4-tp1", "2.7.0-29094adc", "minor-upgrade"),
        ("2.10.3", "3.0.5", "major-upgrade"),
        ("2.10.3-rc1", "3.0.0-tp1", "major-upgrade"),
        ("2.10.3", "3.1.0-tp1", "major-skip-minor"),
    ],
)
def test_suffixes_never_change_the_row(current: str, target: str, kind: str) -> None:
    assert evaluate(current, target).kind == kind


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("2.7.0-29094adc", "2.7.0"),  # the real 2.7.0 contract's info.version, and --to-version
        ("2.7.0", "2.7.0-29094adc"),
        ("2.7.0-29094adc", "2.7.0-1a2b3c4"),
        ("2.0.0", "2.0.0-0123456789abcdef0123456789abcdef01234567"),
    ],
)
def test_builds_of_one_release_are_the_same_release(
    catalog: Catalog, current: str, target: str
) -> None:
    """docs.json reports a build (`2.7.0-29094adc`, fidelity-review.md 2): releases are compared,
    so there is nothing to upgrade, and the reason says which release both are."""
    evaluation = evaluate(current, target, catalog)
    assert (evaluation.kind, evaluation.allowed) == ("same", False)
    assert f"release {Version.parse(target).release}" in evaluation.reason
    assert "nothing to upgrade" in evaluation.reason


@pytest.mark.parametrize(
    ("reason_for", "quoted"),
    [
        (("2.6.0", "2.6.4"), "you can skip patch versions"),
        (("2.5.3", "2.6.4"), "any patch version of the previous minor version"),
        (("2.4.3", "2.6.4"), "you cannot skip versions"),
        (("2.6.4", "2.6.3"), "downgrades are not supported"),
        (("2.9.30", "4.0.0"), "upgrade one major version at a time"),
        (("2.10.3", "3.1.0"), "earliest available minor version"),
        (("2.6.4", "2.6.4"), "nothing to upgrade"),
    ],
)
def test_reasons_quote_the_guide(reason_for: tuple[str, str], quoted: str) -> None:
    assert quoted in evaluate(*reason_for).reason


def test_skip_minor_names_the_skipped_line_and_the_next_stop() -> None:
    reason = evaluate("2.4.3", "2.7.0").reason
    assert "skips minor version 2.5, 2.6" in reason
    assert "upgrade to 2.5 first" in reason


def test_evaluate_refuses_malformed_versions() -> None:
    with pytest.raises(VersionError, match=r"'2\.6'"):
        evaluate("2.6", "2.6.4")
    with pytest.raises(VersionError, match="'latest'"):
        evaluate("2.6.4", "latest")


@given(a=VERSIONS, b=VERSIONS)
def test_no_downgrade_is_ever_allowed(catalog: Catalog, a: Version, b: Version) -> None:
    current, target = max(a, b), min(a, b)
    assert not evaluate(current, target).allowed
    assert not evaluate(current, target, catalog).allowed


@given(current=VERSIONS, target=VERSIONS)
def test_allowed_exactly_for_the_allowed_rows_and_the_catalogue_never_loosens(
    catalog: Catalog, current: Version, target: Version
) -> None:
    plain = evaluate(current, target)
    assert plain.kind in KINDS
    assert plain.allowed == (plain.kind in ALLOWED_KINDS)
    with_catalog = evaluate(current, target, catalog)
    assert with_catalog.kind == plain.kind
    assert with_catalog.allowed <= plain.allowed
    if plain.allowed:
        assert target > current
        assert target.major - current.major in (0, 1)


# What the catalogue adds


def test_msr_2_9_to_3_is_refused_as_a_migration(catalog: Catalog) -> None:
    evaluation = evaluate("2.9.30", "3.0.0", catalog)
    assert evaluation.kind == "major-upgrade"
    assert not evaluation.allowed
    assert "Mirantis Migration Tool" in evaluation.reason
    assert evaluate("2.9.30", "3.0.0").allowed  # the table alone allows it


def test_msr_3_0_to_3_1_is_refused_as_a_migration(catalog: Catalog) -> None:
    evaluation = evaluate("3.0.0", "3.1.2", catalog)
    assert (evaluation.kind, evaluation.allowed) == ("minor-upgrade", False)
    assert "MMT" in evaluation.reason


def test_known_allowed_hop_has_no_release_warnings(catalog: Catalog) -> None:
    evaluation = evaluate("2.4.3", "2.5.11", catalog)
    assert evaluation.allowed
    assert evaluation.warnings == ()


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("2.5.4", "2.5.6", "current version 2.5.4 is not a known DTR release"),
        ("2.8.1", "2.8.14", "target version 2.8.14 is not a known DTR release"),
        ("2.11.0", "2.11.1", "the catalogue lists no 2.11 line"),
        ("2.7.2", "2.7.8", "the 2.7 line's last patch is unknown, so it may be a later release"),
        ("2.7.0-29094adc", "2.7.1", "2.7.0-29094adc is a build of 2.7.0"),
        ("2.7.0-tp1", "2.7.1", "2.7.0-tp1 is a pre-release of 2.7.0"),
    ],
)
def test_unknown_releases_are_warned_about_not_refused(
    catalog: Catalog, current: str, target: str, expected: str
) -> None:
    evaluation = evaluate(current, target, catalog)
    assert evaluation.allowed
    assert any(expected in warning for warning in evaluation.warnings), evaluation.warnings


def test_a_target_line_with_unknown_last_patch_is_warned_about_once(catalog: Catalog) -> None:
    warnings = evaluate("2.6.4", "2.6.15", catalog).warnings
    assert len([w for w in warnings if "last patch of the 2.6 line" in w]) == 1
    assert "latest known: 2.6.15" in warnings[0]


def test_a_target_below_the_latest_known_patch_is_warned_about(catalog: Catalog) -> None:
    (warning,) = evaluate("2.5.11", "2.6.4", catalog).warnings
    assert warning.startswith("the target 2.6.4 is not the latest known patch of the 2.6 line")
    assert "consider upgrading to 2.6.15" in warning
    assert "check the release notes for a later patch still" in warning
    # A line whose last patch is known: no "known", no release-notes advice.
    (warning,) = evaluate("2.8.0", "2.8.5", catalog).warnings
    assert "not the latest patch of the 2.8 line (2.8.13)" in warning
    assert warning.endswith("consider upgrading to 2.8.13.")


def test_the_current_lines_last_patch_does_not_matter_to_a_minor_upgrade(
    catalog: Catalog,
) -> None:
    # 2.6's last patch is not known, but any 2.6 patch may go to any 2.7 patch (the guide).
    warnings = evaluate("2.6.15", "2.7.8", catalog).warnings
    assert not [w for w in warnings if "2.6 line" in w], warnings


def test_major_upgrade_from_an_older_release_warns_to_take_the_latest_first() -> None:
    catalog = Catalog(lines=_lines({(4, 0): 3, (4, 1): 2, (5, 0): 1}))
    evaluation = evaluate("4.0.3", "5.0.0", catalog)
    assert evaluation.allowed
    assert any("not the latest release of DTR 4.x (4.1.2)" in w for w in evaluation.warnings)
    assert evaluate("4.1.2", "5.0.1", catalog).warnings == ()


def test_same_version_is_not_allowed_and_says_nothing_to_do(catalog: Catalog) -> None:
    evaluation = evaluate("2.6.4", "2.6.4", catalog)
    assert (evaluation.kind, evaluation.allowed) == ("same", False)
    assert "--phase=post" in evaluation.reason


def _lines(last_patches: dict[tuple[int, int], int]) -> list[ReleaseLine]:
    return [
        ReleaseLine(
            line=line,
            versions=tuple(Version(line[0], line[1], patch) for patch in range(last + 1)),
            last_patch_known=True,
            source="test",
            tag="confirmed",
        )
        for line, last in last_patches.items()
    ]


def test_a_malformed_version_is_a_one_line_harness_error_and_a_value_error() -> None:
    """An odd `info.version` from a DTR must fail a check in the harness's words (one line),
    never as a raw traceback; option parsing still catches it as a ValueError."""
    from upgrade.errors import HarnessError

    error = VersionError("2.7\nx")
    assert isinstance(error, HarnessError)
    assert isinstance(error, ValueError)
    assert "\n" not in str(error)
