"""Read what a pytest-html 4 report shows: its data blob, rows, extras and environment."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

_BLOB = re.compile(r'data-jsonblob="([^"]*)"')
_CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)


def report_data(report: Path) -> dict[str, Any]:
    """The JSON pytest-html renders its table from."""
    match = _BLOB.search(report.read_text(encoding="utf-8"))
    assert match, f"{report} has no pytest-html data blob"
    data = json.loads(html.unescape(match.group(1)))
    assert isinstance(data, dict)
    return data


def rows(report: Path) -> dict[str, dict[str, Any]]:
    """Each result row by the text of its Check ID cell (the last row of that ID wins)."""
    found = {}
    for entries in report_data(report)["tests"].values():
        for entry in entries:
            cells = [_CELL.search(c) for c in entry["resultsTableRow"]]
            texts = [m.group(1) if m else "" for m in cells]
            found[texts[1]] = {"cells": texts, "extras": entry.get("extras", [])}
    return found


def extra_html(row: dict[str, Any]) -> str:
    """The HTML extras of one row, joined."""
    return "".join(e["content"] for e in row["extras"] if e["format_type"] == "html")
