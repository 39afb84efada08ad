"""The shipped catalogue matches the fact sheet; user catalogues extend it or fail clearly."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from upgrade.rules.catalog import Catalog, CatalogError, ReleaseLine
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.versions import Version


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def v(text: str) -> Version:
    return Version.parse(text)


def _patches(catalog: Catalog, line: str) -> list[int]:
    return [version.patch for version in catalog.known_versions(line)]


# Released versions


@pytest.mark.parametrize(
    ("line", "patches"),
    [
        ("2.3", list(range(12))),
        ("2.4", list(range(13))),
        ("2.5", [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]),
        ("2.6", [0, 1, 2, 3, 4, 5, 6, 15]),
        ("2.7", [0, 1, 5, 8]),
        ("2.8", list(range(14))),
        ("2.9", list(range(31))),
        ("2.10", list(range(4))),
        ("3.0", [0]),
        ("3.1", list(range(15))),
    ],
)
def test_released_versions_per_line_follow_the_fact_sheet(
    catalog: Catalog, line: str, patches: list[int]
) -> None:
    assert _patches(catalog, line) == patches


def test_lines_accept_a_tuple_or_text_and_unknown_lines_are_empty(catalog: Catalog) -> None:
    assert catalog.known_versions((2, 6)) == catalog.known_versions("2.6")
    assert catalog.known_versions((2, 11)) == ()
    assert catalog.known_versions()[0] == v("2.3.0")
    assert catalog.known_versions()[-1] == v("3.1.14")
    assert [entry.name for entry in catalog.lines()][:3] == ["2.3", "2.4", "2.5"]


@pytest.mark.parametrize(
    ("version", "known"),
    [
        ("2.6.4", True),
        ("2.5.4", False),
        ("2.6.15", True),
        ("2.6.7", False),
        ("2.7.8", True),
        ("2.7.2", False),
        ("2.7.0-29094adc", False),
        ("2.9.30", True),
        ("2.11.0", False),
    ],
)
def test_is_known(catalog: Catalog, version: str, known: bool) -> None:
    assert catalog.is_known(v(version)) is known


@pytest.mark.parametrize(
    ("major", "minor", "latest", "complete"),
    [
        (2, 4, "2.4.12", True),
        (2, 5, "2.5.11", True),
        (2, 6, "2.6.15", False),
        (2, 7, "2.7.8", False),
        (2, 8, "2.8.13", True),
        (2, 9, "2.9.30", False),
        (2, 10, "2.10.3", False),
        (2, 11, None, False),
    ],
)
def test_latest_patch_and_whether_the_line_is_complete(
    catalog: Catalog, major: int, minor: int, latest: str | None, complete: bool
) -> None:
    expected = v(latest) if latest is not None else None
    assert catalog.latest_patch(major, minor) == expected
    assert catalog.line_complete(major, minor) is complete


def test_the_maintained_lines_2_9_and_2_10_have_no_known_last_patch(catalog: Catalog) -> None:
    """MSR 2.9's end of life was extended to 2027-03-24 and 2.10 is the current line (S26,
    fidelity-review.md 15): a later patch may be a real release, not an unknown version."""
    lines = {entry.name: entry for entry in catalog.lines()}
    assert "2027-03-24" in lines["2.9"].note
    assert "2026-10-05" in lines["2.10"].note
    for later in ("2.9.31", "2.10.4"):
        assert not catalog.is_known(v(later))
        assert catalog.may_be_release(v(later))


@pytest.mark.parametrize(
    ("version", "may_be"),
    [
        ("2.6.4", True),
        ("2.6.7", True),  # the 2.6 line's last patch is unknown
        ("2.5.4", False),  # the 2.5 line is complete without it
        ("2.4.13", False),
        ("2.7.0-29094adc", True),  # a build of a listed release
        ("2.6.4-rc1", False),  # a pre-release is no release, even on an open line
        ("2.6.7-beta2", False),
        ("2.11.0", False),
        ("2.99.0", False),
    ],
)
def test_may_be_release(catalog: Catalog, version: str, may_be: bool) -> None:
    assert catalog.may_be_release(v(version)) is may_be


def test_describe_names_the_shipped_file_and_the_user_file(tmp_path: Path) -> None:
    assert load_catalog().describe() == "the shipped catalogue upgrade/data/catalog.toml"
    site = tmp_path / "site.toml"
    site.write_text('[lines."2.11"]\npatches = "0"\n', "utf-8")
    assert load_catalog(site).describe().endswith(f"extended by {site}")


@pytest.mark.parametrize(
    ("dtr", "needs"),
    [("2.4.12", "UCP 2.2"), ("2.5.11", "UCP 3.0"), ("2.9.30", "MKE 3.4-3.8"), ("3.0.0", None)],
)
def test_ucp_requirement(catalog: Catalog, dtr: str, needs: str | None) -> None:
    assert catalog.ucp_requirement(v(dtr)) == needs


def test_latest_in_major(catalog: Catalog) -> None:
    assert catalog.latest_in_major(2) == v("2.10.3")
    assert catalog.latest_in_major(3) == v("3.1.14")
    assert catalog.latest_in_major(4) is None


# Bootstrapper images


@pytest.mark.parametrize(
    ("version", "image"),
    [
        ("2.4.3", "docker/dtr:2.4.3"),
        ("2.5.11", "docker/dtr:2.5.11"),
        ("2.6.4", "docker/dtr:2.6.4"),
        ("2.6.14", "docker/dtr:2.6.14"),
        ("2.6.15", "mirantis/dtr:2.6.15"),
        ("2.6.16", "mirantis/dtr:2.6.16"),
        ("2.7.5", "docker/dtr:2.7.5"),
        ("2.7.8", "mirantis/dtr:2.7.8"),
        ("2.8.1", "docker/dtr:2.8.1"),
        ("2.8.2", "mirantis/dtr:2.8.2"),
        ("2.9.30", "mirantis/dtr:2.9.30"),
        ("2.10.0", "registry.mirantis.com/msr/dtr:2.10.0"),
        ("2.10.3", "registry.mirantis.com/msr/dtr:2.10.3"),
        # Images are tagged by release: never by a build or pre-release suffix.
        ("2.7.0-29094adc", "docker/dtr:2.7.0"),
        ("2.7.8-rc1", "mirantis/dtr:2.7.8"),
    ],
)
def test_bootstrapper_image_per_version(catalog: Catalog, version: str, image: str) -> None:
    assert catalog.image_for(v(version)) == image


def test_msr_3_has_no_bootstrapper_image(catalog: Catalog) -> None:
    assert catalog.bootstrapper_rule(v("3.0.0")) is None
    with pytest.raises(CatalogError, match=r"no bootstrapper image is known for DTR 3\.0\.0"):
        catalog.image_for(v("3.0.0"))


# Migrations and refusals


def test_migrations_of_every_minor_hop_crossed(catalog: Catalog) -> None:
    crossed = catalog.migrations(v("2.4.3"), v("2.6.4"))
    assert [(m.from_line, m.to_line, m.job) for m in crossed] == [
        ("2.4", "2.5", "scannedlayermigration"),
        ("2.5", "2.6", "metadatastoremigration"),
    ]
    assert crossed[1].attempts == 3
    assert "retried twice" in crossed[1].note
    assert [m.job for m in catalog.migrations(v("2.5.11"), v("2.6.0"))] == [
        "metadatastoremigration"
    ]
    assert catalog.migrations(v("2.5.0"), v("2.5.11")) == ()
    assert catalog.migrations(v("2.6.4"), v("2.10.3")) == ()
    assert catalog.migrations(v("2.6.4"), v("2.4.3")) == ()


def test_refusals_pick_the_most_specific_entry(catalog: Catalog) -> None:
    from_29 = catalog.exception_for(v("2.9.30"), v("3.0.0"))
    from_28 = catalog.exception_for(v("2.8.13"), v("3.0.0"))
    assert from_29 is not None
    assert from_28 is not None
    assert (from_29.from_pattern, from_29.to_pattern, from_29.tag) == ("2.9", "3", "confirmed")
    assert (from_28.from_pattern, from_28.tag) == ("2", "inferred")
    assert "Mirantis Migration Tool" in from_29.reason
    assert catalog.exception_for(v("2.8.13"), v("2.9.0")) is None
    assert len(catalog.exceptions) == 3


# UCP / MKE pairings


@pytest.mark.parametrize(
    ("dtr", "ucp", "compatible", "confirmed"),
    [
        ("2.6.4", "3.0.2", False, True),
        ("2.6.4", "3.1.6", True, True),
        ("2.6.4", "3.2.0", None, False),
        ("2.5.11", "3.0.2", True, False),
        ("2.5.11", "2.2.9", False, False),
        ("2.7.8", "3.2.5", True, True),
        ("2.7.8", "3.1.9", False, True),
        ("2.8.5", "3.3.7", True, True),
        ("2.9.0", "3.3.7", False, True),
        ("2.9.0", "3.4.0", True, True),
        ("2.9.28", "3.8.8", True, True),
        ("2.9.28", "3.9.0", None, False),
        ("2.10.0", "3.6.0", True, True),
        ("2.10.3", "3.9.1", True, True),
        ("2.10.3", "3.5.9", False, True),
        ("3.1.0", "3.7.0", None, False),
    ],
)
def test_ucp_compatibility_by_pairing(
    catalog: Catalog, dtr: str, ucp: str, compatible: bool | None, confirmed: bool
) -> None:
    result = catalog.ucp_compatibility(dtr, ucp)
    assert (result.compatible, result.confirmed) == (compatible, confirmed)
    assert ucp in result.reason
    assert "\n" not in result.reason


def test_incompatible_ucp_says_to_upgrade_it_first(catalog: Catalog) -> None:
    reason = catalog.ucp_compatibility(v("2.6.4"), v("3.0.2")).reason
    assert "older than UCP 3.1" in reason
    assert "upgrade UCP first" in reason


# Every fact keeps its source and tag in the data file


def test_every_shipped_fact_names_its_source_and_tag() -> None:
    text = resources.files("upgrade").joinpath("data/catalog.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    entries = list(data["lines"].values())
    for key in ("migration", "refused", "ucp", "bootstrapper"):
        entries.extend(data[key])
    assert len(entries) > 20
    for entry in entries:
        assert entry["source"].strip(), entry
        assert entry["tag"] in ("confirmed", "inferred", "disputed"), entry
    assert data["lines"]["2.6"]["last_patch_known"] is False
    assert data["lines"]["2.7"]["last_patch_known"] is False


# User catalogues


def _user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_catalogue_extends_lines_and_marks_them_complete(tmp_path: Path) -> None:
    path = _user_file(
        tmp_path,
        """
        [lines."2.7"]
        patches = "9-10"
        last_patch_known = true

        [lines."2.11"]
        patches = "0-1"
        """,
    )
    catalog = load_catalog(path)
    assert _patches(catalog, "2.7") == [0, 1, 5, 8, 9, 10]
    assert catalog.latest_patch(2, 7) == v("2.7.10")
    assert catalog.line_complete(2, 7)
    assert catalog.known_versions("2.11") == (v("2.11.0"), v("2.11.1"))
    assert not catalog.line_complete(2, 11)  # a new line's last patch is unknown unless stated
    assert catalog.latest_in_major(2) == v("2.11.1")
    line_27 = next(entry for entry in catalog.lines() if entry.name == "2.7")
    assert str(path) in line_27.source
    assert catalog.files[-1] == str(path)


def test_user_catalogue_overrides_keyed_entries(tmp_path: Path) -> None:
    path = _user_file(
        tmp_path,
        """
        schema = 1

        [[migration]]
        from = "2.5"
        to = "2.6"
        job = "metadatastoremigration"
        note = "site runbook MIG-7"

        [[refused]]
        from = "2.8"
        to = "2.9"
        reason = "our storage driver is not supported by 2.9"

        [[ucp]]
        dtr = "2.6"
        ucp_min = "3.1"
        ucp_max = "3.2"
        tag = "inferred"

        [[bootstrapper]]
        repository = "registry.example.com:5000/mirror/dtr"
        since = "2.0.0"
        """,
    )
    catalog = load_catalog(path)
    migrations = catalog.migrations(v("2.5.0"), v("2.6.0"))
    assert [(m.job, m.note, m.attempts) for m in migrations] == [
        ("metadatastoremigration", "site runbook MIG-7", None)
    ]
    refusal = catalog.exception_for(v("2.8.13"), v("2.9.0"))
    assert refusal is not None
    assert refusal.reason == "our storage driver is not supported by 2.9"
    assert catalog.ucp_compatibility("2.6.4", "3.2.1").compatible is True
    assert catalog.ucp_compatibility("2.6.4", "3.2.1").confirmed is False
    assert catalog.image_for(v("2.10.3")) == "registry.example.com:5000/mirror/dtr:2.10.3"
    assert catalog.image_for(v("3.0.0")) == "registry.example.com:5000/mirror/dtr:3.0.0"


def test_user_catalogue_does_not_touch_the_shipped_one(tmp_path: Path) -> None:
    load_catalog(_user_file(tmp_path, '[lines."2.7"]\npatches = "9"\n'))
    assert _patches(load_catalog(), "2.7") == [0, 1, 5, 8]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("lines = [", "is not valid TOML"),
        ("colour = 1", "unknown key 'colour'"),
        ("schema = 2", "schema must be 1"),
        ("lines = 3", "lines must be tables named by minor line"),
        ('[lines."2.x"]\npatches = "1"', "malformed minor line '2.x'"),
        ('[lines."2.7"]\npatches = "1..3"', "patches must list patch numbers and ranges"),
        ('[lines."2.7"]\npatches = "5-3"', "bad range '5-3'"),
        ('[lines."2.7"]\npatches = "0-99999999"', "bad range"),
        ('[lines."2.7"]\npatches = 9', "patches must be a non-empty string, got 9"),
        ('[lines."2.7"]\nlast_patch_known = "yes"', "last_patch_known must be true or false"),
        ('[lines."2.7"]\npatches = "9"\ntag = "sure"', "tag must be one of confirmed"),
        ('[lines."2.7"]\npatchez = "9"', "unknown key 'patchez'"),
        ('[lines."2.11"]\nlast_patch_known = true', "the line is new, so it needs 'patches'"),
        ('migration = "x"', "migration must be an array of tables"),
        ('[[migration]]\nfrom = "2.5"\nto = "2.6"', "[[migration]] #1: missing key 'job'"),
        ('[[migration]]\nfrom = "2.6"\nto = "2.5"\njob = "j"', "must be a later minor line"),
        ('[[migration]]\nfrom="2.5"\nto="2.6"\njob="j"\nattempts=0', "positive integer"),
        ('[[refused]]\nfrom = "2.9.1"\nto = "3"\nreason = "r"', "major or a minor line"),
        ('[[ucp]]\ndtr = "2.6"\nucp_min = "3.2"\nucp_max = "3.1"', "older than ucp_min"),
        ('[[bootstrapper]]\nrepository = "Docker/DTR"\nsince = "2.0.0"', "image repository"),
        ('[[bootstrapper]]\nrepository = "x/dtr:2.6.4"\nsince = "2.0"', "malformed version"),
        ('[[bootstrapper]]\nrepository="x/d"\nsince="2.6.0"\nbefore="2.6.0"', "must be a later"),
        ('[[bootstrapper]]\nrepository = "x/dtr"', "missing key 'since'"),
    ],
)
def test_malformed_user_catalogue_names_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = _user_file(tmp_path, text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"catalogue file {path}")
    assert problem in message
    assert "\n" not in message


def test_missing_directory_and_binary_user_files_are_catalogue_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "absent.toml")
    with pytest.raises(CatalogError, match="is a directory"):
        load_catalog(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CatalogError, match="is not UTF-8 text"):
        load_catalog(binary)


def test_a_catalogue_built_in_code_sorts_lines_and_refuses_stray_versions() -> None:
    line = ReleaseLine((4, 0), (v("4.0.2"), v("4.0.0"), v("4.0.2")), True, "test", "confirmed")
    assert Catalog([line]).known_versions("4.0") == (v("4.0.0"), v("4.0.2"))
    stray = ReleaseLine((4, 0), (v("4.1.0"),), True, "test", "confirmed")
    with pytest.raises(
        CatalogError, match=r"release line 4\.0 lists versions of other lines: 4\.1\.0"
    ):
        Catalog([stray])
