"""The gallery in a real headless Chromium, as a parent's phone shows it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from app.auth.sessions import start_session
from app.db import utcnow
from app.deliveries.models import Delivery
from app.jobs import JobQueue
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.conftest import LiveServer
from tests.support.gallery import make_gallery

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _phone_page(browser: Any, live_server: LiveServer, token: str, cookie: str) -> Any:
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        locale="ja-JP",
        user_agent=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
        ),
    )
    context.add_cookies([{"name": cookie, "value": token, "url": live_server.url}])
    return context.new_page()


def test_the_viewer_answers_the_arrow_keys_and_escape(
    live_server: LiveServer, browser: Any
) -> None:
    app = live_server.app
    runtime(app).jobs = JobQueue(None)
    with runtime(app).database.session_scope() as session:
        gallery = make_gallery(app, session, photos=3)
        token = start_session(session, gallery.guardian, now=utcnow()).token
        event_id = gallery.event.id
        first, second = gallery.photos[0].id, gallery.photos[1].id
    with app.test_request_context():
        cookie = session_cookie_name()
    page = _phone_page(browser, live_server, token, cookie)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    try:
        page.goto(f"{live_server.url}/events/{event_id}")
        assert page.locator("ul[data-grid] img").count() == 3
        page.locator("ul[data-grid] a").first.click()
        page.wait_for_url(f"**/events/{event_id}/photos/{first}")
        page.keyboard.press("ArrowRight")
        page.wait_for_url(f"**/events/{event_id}/photos/{second}")
        page.keyboard.press("ArrowLeft")
        page.wait_for_url(f"**/events/{event_id}/photos/{first}")
        page.keyboard.press("Escape")
        page.wait_for_url(f"**/events/{event_id}")
    finally:
        page.context.close()
    assert errors == []


def test_a_phone_screenshot_of_a_preview_names_the_viewer(
    live_server: LiveServer, browser: Any
) -> None:
    """A screenshot of the preview page on a phone (390 x 844 CSS px at 3x, the page's own
    header and buttons in it) reads back, blind, to this guardian's preview delivery."""
    app = live_server.app
    runtime(app).jobs = JobQueue(None)
    with runtime(app).database.session_scope() as session:
        gallery = make_gallery(app, session, photos=2)
        token = start_session(session, gallery.guardian, now=utcnow()).token
        event_id, photo_id = gallery.event.id, gallery.photos[0].id
        guardian_id = gallery.guardian.id
    with app.test_request_context():
        cookie = session_cookie_name()
    page = _phone_page(browser, live_server, token, cookie)
    try:
        page.goto(f"{live_server.url}/events/{event_id}/photos/{photo_id}")
        page.wait_for_function(
            "() => { const i = document.querySelector('[data-preview]');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        shot = page.screenshot(type="png")
    finally:
        page.context.close()
    screenshot = Image.open(io.BytesIO(shot)).convert("RGB")
    assert screenshot.size == (1170, 2532)

    found = runtime(app).watermarks.keyring.extract(screenshot)
    with runtime(app).database.session_scope(write=False) as session:
        delivery = session.scalars(select(Delivery).where(Delivery.photo_id == photo_id)).one()
        assert delivery.guardian_id == guardian_id
        assert delivery.os == "iOS"
        assert found.payload == delivery.mark
