"""A real upgrade session against the lab, run once for the report's end-to-end tests, with
known secret values in the environment so the tests can look for them everywhere."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.sessions import Session, run_session
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

# Characters that HTML, XML, JSON and URLs all escape differently, so every rendering is tried.
SECRETS = {
    "DTR_USERNAME": "admin",
    "DTR_PASSWORD": "Pw-s3cret&<dtr>\"q'",
    "DTR_TOKEN": "tok-0f1e2d3c4b5a69788796a5b4",
    "UCP_USERNAME": "ucp-admin",
    "UCP_PASSWORD": "Ucp-s3cret/+=:x",
}


def secret_forms() -> dict[str, str]:
    """Each secret raw and as the base64 of `user:secret` a basic-auth header carries."""
    forms = {}
    for variable, username in (
        ("DTR_PASSWORD", SECRETS["DTR_USERNAME"]),
        ("DTR_TOKEN", SECRETS["DTR_USERNAME"]),
        ("UCP_PASSWORD", SECRETS["UCP_USERNAME"]),
    ):
        secret = SECRETS[variable]
        forms[variable] = secret
        encoded = base64.b64encode(f"{username}:{secret}".encode()).decode()
        forms[f"basic auth with {variable}"] = encoded
    return forms


@pytest.fixture(scope="session")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """`pytest --target=lab --to-version=2.6.4 --apply` with known secrets, finished."""
    root: Path = tmp_path_factory.mktemp("upgraded")
    session = run_session(
        root,
        "--to-version=2.6.4",
        "--apply",
        "--change-id=CHG-1042",
        "--operator=alice",
        "--approver=bob",
        env=SECRETS,
    )
    assert session.result["verdict"] == "UPGRADED", session.output
    return session


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless; skipped locally when absent, a failure under CI."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the browser test: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
