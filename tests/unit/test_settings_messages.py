"""What a refused option value says: where the value came from (an environment variable or
the command line), the units a duration needs, and the form a number or version must have."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from upgrade.config.options import OPTIONS, OptionSpec
from upgrade.config.settings import resolve
from upgrade.config.values import SettingsError


def refusal(cli: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The message of the SettingsError resolving these sources raises."""
    given = dict(cli or {})

    def from_cli(option: OptionSpec) -> object:
        if option.dest in given:
            return given[option.dest]
        return {"flag": False, "list": []}.get(option.kind)

    with pytest.raises(SettingsError) as caught:
        resolve(from_cli, dict(env or {}), ini=lambda option: None)
    return str(caught.value)


def test_a_value_from_the_environment_names_the_variable_and_the_option() -> None:
    message = refusal(env={"DTR_UPGRADE_TO_VERSION": "2.6.x"})
    assert message.startswith(
        "DTR_UPGRADE_TO_VERSION (environment) / --to-version: malformed version '2.6.x'"
    ), message


def test_a_converted_value_from_the_environment_names_the_variable() -> None:
    message = refusal(env={"DTR_UPGRADE_MAX_BACKUP_AGE": "soon"})
    assert message.startswith("DTR_UPGRADE_MAX_BACKUP_AGE (environment) / --max-backup-age"), (
        message
    )


def test_a_value_from_the_command_line_names_only_the_option() -> None:
    message = refusal(cli={"to_version": "2.6.x"}, env={"DTR_UPGRADE_TO_VERSION": "2.6.4"})
    assert message.startswith("--to-version: malformed version '2.6.x'"), message


DURATIONS = [option for option in OPTIONS if option.kind == "duration"]


@pytest.mark.parametrize("option", DURATIONS, ids=[o.name for o in DURATIONS])
def test_a_duration_without_a_unit_is_refused_naming_the_units(option: OptionSpec) -> None:
    message = refusal(cli={option.dest: "24"})
    assert message.startswith(f"{option.name} '24': a duration needs a unit: s, m, h or d"), message


def test_a_bare_zero_is_the_same_in_every_unit() -> None:
    settings = resolve(
        lambda option: (
            {"upgrade_backoff": "0"}.get(option.dest) if option.kind != "flag" else False
        ),
        {},
        ini=lambda option: None,
    )
    assert settings.upgrade_backoff.total_seconds() == 0


@pytest.mark.parametrize("value", ["abc", "19", "19.03.x", "v20.10"])
def test_a_minimum_engine_that_is_not_a_version_is_refused(value: str) -> None:
    message = refusal(cli={"min_engine_version": value})
    assert message.startswith(f"--min-engine-version {value!r}: expected a Docker engine"), message


@pytest.mark.parametrize("value", ["17.06", "18.09.7", "23.0"])
def test_a_minimum_engine_in_the_bundles_forms_is_taken(value: str) -> None:
    settings = resolve(
        lambda option: (
            {"min_engine_version": value}.get(option.dest) if option.kind != "flag" else False
        ),
        {},
        ini=lambda option: None,
    )
    assert settings.min_engine_version == value


def test_a_whole_number_option_says_so() -> None:
    message = refusal(cli={"data_proof_seed": "abc"})
    assert message == "--data-proof-seed 'abc': expected a whole number", message
