"""The home page in a real headless Chromium, in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("locale", "heading", "lang"),
    [("en-US", "School photos, safely", "en"), ("ja-JP", "学校の写真を、安全に", "ja")],
)
def test_home_page_renders_in_the_browser_language(
    live_server: LiveServer, page_factory: Any, locale: str, heading: str, lang: str
) -> None:
    page = page_factory(locale)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    response = page.goto(live_server.url + "/")
    assert response is not None
    assert response.status == 200
    assert page.locator("h1").inner_text() == heading
    assert page.locator("html").get_attribute("lang") == lang
    assert errors == []  # no CSP violations or script errors


def test_language_can_be_switched_in_the_page(live_server: LiveServer, page_factory: Any) -> None:
    page = page_factory("ja-JP")
    page.goto(live_server.url + "/")
    assert page.locator("h1").inner_text() == "学校の写真を、安全に"
    with page.expect_navigation():
        page.select_option("#language-select", "en")
    assert page.locator("h1").inner_text() == "School photos, safely"
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "en"


def test_home_page_fits_a_phone_screen(live_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-US")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 375
    finally:
        context.close()
