"""Hypothesis strategies for answers that fit the real DTR 2.6/2.7 API contract.

The definitions come from `tests/data/dtr-contract.json`, extracted from the Swagger specs
(../shared/dtr-api/). An answer fits the contract when every required property is there with its
declared type; anything else is allowed: optional properties present or not, any string where a
string is declared (a `date-time` is usually RFC 3339, not always), any integer, extra keys, and
`null` for arrays and maps (Go marshals a nil slice or map as `null`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "dtr-contract.json"
VERSIONS = ("2.6.0", "2.7.0")

_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
ANY_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
RFC3339 = st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
# Keys the client looks for inside the contract's free-form objects (`rethink_system_tables` is
# only `type: object`), so the generated objects reach the code that reads them.
KNOWN_KEYS = st.sampled_from(
    ["current_issues", "table_status", "status", "all_replicas_ready", "db", "name", "critical"]
)
FREE_OBJECT = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(KNOWN_KEYS | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
STRING_LIKE = st.sampled_from(["", " ", "0", "null", "\n", "2.7.0-29094adc", "::", "a:b:c"])


@cache
def contract() -> dict[str, Any]:
    """The vendored contract: `roots` (endpoint -> definition) and `specs` per version."""
    data = json.loads(CONTRACT.read_text())
    assert isinstance(data, dict)
    return data


def definition_strategy(version: str, name: str) -> st.SearchStrategy[Any]:
    """Answers of definition `name` (e.g. `responses.Features`) of spec `version`."""
    return _schema(version, {"$ref": f"#/definitions/{name}"}, depth=0)


def root_strategy(version: str, endpoint: str) -> st.SearchStrategy[Any]:
    """Answers of one endpoint the client parses (`features`, `tags`, ...; see `roots`)."""
    name = contract()["roots"][endpoint]
    one = definition_strategy(version, name)
    return st.lists(one, max_size=3) if endpoint == "tags" else one


def docs_strategy(version: str) -> st.SearchStrategy[Any]:
    """`GET /api/v0/docs.json`: a Swagger document whose `info.version` is any string."""
    real = contract()["specs"][version]["info"]["version"]
    versions = st.just(real) | st.text(max_size=20) | STRING_LIKE
    info = st.fixed_dictionaries({"version": versions}, optional={"title": st.text(max_size=5)})
    return st.fixed_dictionaries({"swagger": st.just("2.0"), "info": info})


def _schema(version: str, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.removeprefix("#/definitions/")
        target = contract()["specs"][version]["definitions"][name]
        return st.deferred(lambda: _schema(version, target, depth + 1))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "string":
        if schema.get("format") == "date-time":
            return RFC3339 | st.text(max_size=12) | STRING_LIKE
        return st.text(max_size=16) | STRING_LIKE
    if kind == "integer":
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = schema.get("items", {})
        return st.none() | st.lists(_schema(version, items, depth + 1), max_size=3)
    if kind == "object":
        return _object(version, schema, depth)
    return ANY_JSON


def _object(version: str, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if not properties and isinstance(extra, dict):
        values = _schema(version, extra, depth + 1)
        return st.none() | st.dictionaries(st.text(max_size=12), values, max_size=3)
    if not properties:
        return st.dictionaries(KNOWN_KEYS | st.text(max_size=12), FREE_OBJECT, max_size=4)
    required = set(schema.get("required", ()))
    if depth > 4:  # deep optional parts: only what is required
        properties = {k: v for k, v in properties.items() if k in required}
    fields = {k: _schema(version, v, depth + 1) for k, v in properties.items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )
