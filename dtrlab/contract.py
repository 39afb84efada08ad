"""The DTR API contract (Swagger 2.0) shipped as package data, served as /api/v0/docs.json."""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from dtrlab.catalogue import parse_version

CONTRACT_FILES = {"2.6": "dtr-2.6.0-swagger.json", "2.7": "dtr-2.7.0-swagger.json"}


@functools.cache
def load_contract(line: str) -> dict[str, Any]:
    """The published contract of DTR `line` ("2.6" or "2.7")."""
    text = resources.files("dtrlab").joinpath("data", CONTRACT_FILES[line]).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def contract_line(version: str) -> str:
    """Which published contract describes DTR `version` (2.7's for 2.7 and later, else 2.6's)."""
    return "2.7" if parse_version(version).line >= (2, 7) else "2.6"


def build_version(version: str) -> str:
    """`version` as a real build reports it in docs.json: the release with a build suffix.

    The 2.7.0 contract extracted from a real build has info.version `2.7.0-29094adc`
    (docker/docs `reference/dtr/2.7/api/main.js`; dtr-facts.md S14); the suffix here is a
    stable 8-hex stand-in for the build's commit, the same for every replica of one release.
    """
    release = str(parse_version(version))
    return f"{release}-{hashlib.sha256(release.encode()).hexdigest()[:8]}"


@functools.cache
def docs_json(version: str) -> bytes:
    """docs.json as a replica running `version` serves it: the contract with info.version set."""
    contract = dict(load_contract(contract_line(version)))
    contract["info"] = {**contract["info"], "version": version}
    return json.dumps(contract, separators=(",", ":")).encode()
