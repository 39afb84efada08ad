"""The default --min-engine-version per DTR line (fidelity-review.md 10, dtr-facts.md 5.1)."""

from __future__ import annotations

import pytest

from upgrade.cluster.nodes import engine_at_least
from upgrade.rules.engines import ENGINE_MINIMUMS, engine_minimum, engine_minimum_note
from upgrade.rules.versions import Version


@pytest.mark.parametrize(
    ("dtr", "engine"),
    [
        ("2.3.11", "17.06.0"),
        ("2.4.12", "17.06.0"),
        ("2.5.11", "17.06.0"),
        ("2.6.4", "18.09.0"),
        ("2.7.8", "19.03.0"),
        ("2.8.13", "19.03.0"),
        ("2.9.30", "20.10.0"),
        ("2.10.3", "23.0.0"),
        ("2.11.0", "23.0.0"),  # newer than the table: its newest entry
        ("2.0.0", "17.06.0"),  # older than the table: its oldest entry
        ("2.5.0-tp1", "17.06.0"),
    ],
)
def test_the_default_follows_the_running_line(dtr: str, engine: str) -> None:
    assert engine_minimum(Version.parse(dtr)).engine == engine


def test_docker_ee_2_0_nodes_on_17_06_ee_pass_for_dtr_2_4_and_2_5() -> None:
    """The 18.09 default refused every 2.4 -> 2.5 upgrade on its own bundle's engine."""
    for dtr in ("2.4.12", "2.5.11"):
        assert engine_at_least("17.06.2-ee-16", engine_minimum(Version.parse(dtr)).engine)
    assert not engine_at_least("17.06.2-ee-16", engine_minimum(Version.parse("2.6.4")).engine)


def test_every_entry_cites_its_source_and_the_table_is_ordered() -> None:
    lines = [entry.since for entry in ENGINE_MINIMUMS]
    assert lines == sorted(lines)
    for entry in ENGINE_MINIMUMS:
        assert "dtr-facts.md 5.1" in entry.source
        assert entry.tag in ("confirmed", "inferred")
    note = engine_minimum_note(Version.parse("2.5.11"))
    assert "DTR 2.5" in note
    assert "17.06.0" in note
    assert "--min-engine-version" in note
