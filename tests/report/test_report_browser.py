"""The report of a real lab upgrade as a browser shows it: headless Debian chromium, driven by
playwright (never a downloaded browser). Under CI (CI=1) a missing chromium fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.sessions import Session

pytestmark = pytest.mark.slow

GREEN = "rgb(30, 126, 52)"
LOAD_TIMEOUT_MS = 30_000


@pytest.fixture
def page(browser: Any, upgraded: Session) -> Iterator[Any]:
    """The upgraded session's report.html, rendered."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        opened = context.new_page()
        opened.goto((upgraded.bundle / "report.html").as_uri(), timeout=LOAD_TIMEOUT_MS)
        opened.wait_for_selector("#results-table tbody.results-table-row", timeout=LOAD_TIMEOUT_MS)
        yield opened
    finally:
        context.close()


def test_report_in_chromium(page: Any, upgraded: Session, tmp_path: Path) -> None:
    banner = page.locator("#dtr-verdict")
    assert banner.is_visible()
    assert banner.locator(".dtr-verdict-word").inner_text() == "UPGRADED"
    assert upgraded.result["verdict_reason"] in banner.inner_text()
    assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == GREEN
    # the verdict is the first thing read: above the environment and the results
    top = banner.bounding_box()["y"]
    assert top < page.locator("#environment").bounding_box()["y"]
    assert top < page.locator("#results-table").bounding_box()["y"]

    checks = upgraded.result["checks"]
    assert page.locator("tbody.results-table-row").count() == len(checks)
    row = page.locator(
        "tbody.results-table-row", has=page.locator("td.col-checkId", has_text="PRE-TARGET-TLS")
    )
    assert row.locator("td.col-phase").inner_text() == "preflight"
    assert "TLS handshake" in row.locator("td.col-description").inner_text()

    # a passed check starts collapsed; one click opens its evidence, another the JSON
    extras = row.locator("tr.extras-row")
    assert not extras.is_visible()
    row.locator("td.col-checkId").click()
    row = page.locator(
        "tbody.results-table-row", has=page.locator("td.col-checkId", has_text="PRE-TARGET-TLS")
    )
    item = row.locator(
        "details.dtr-evidence-item", has=page.locator("summary", has_text="certificate")
    )
    assert item.is_visible()
    assert not item.locator("pre").is_visible()
    item.locator("summary").click()
    assert item.locator("pre").is_visible()
    assert '"verified": true' in item.locator("pre").inner_text()

    chart = page.locator("svg.dtr-availability")
    assert chart.is_visible()
    endpoints = upgraded.result["availability"]["endpoints"]
    assert chart.locator("g.dtr-endpoint").count() == len(endpoints)
    outages = sum(len(e["outages"]) for e in endpoints.values())
    assert chart.locator("rect.dtr-outage").count() == outages
    assert chart.bounding_box()["width"] > 600

    top_shot, row_shot = tmp_path / "report.png", tmp_path / "evidence.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(top_shot))
    row.screenshot(path=str(row_shot))
    assert top_shot.stat().st_size > 10_000
    assert row_shot.stat().st_size > 1_000
