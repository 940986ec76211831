"""The guard in a real headless Chromium: the dashboard's chart draws, a school
administrator asks for a step-up from the dashboard, and the family's browser lands on the
step-up page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.auth.models import StaffRole
from app.auth.sessions import start_session
from app.db import utcnow
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.conftest import LiveServer
from tests.factories import make_family, make_guardian, make_school, make_staff

pytestmark = pytest.mark.browser


def _context(browser: Any, live_server: LiveServer, cookie: str, token: str) -> Any:
    context = browser.new_context(locale="en-US")
    context.add_cookies([{"name": cookie, "value": token, "url": live_server.url}])
    return context


def test_an_administrator_steps_up_a_family_from_the_dashboard(
    live_server: LiveServer, browser: Any
) -> None:
    app = live_server.app
    with app.test_request_context():
        cookie = session_cookie_name()
    with runtime(app).database.session_scope() as session:
        school = make_school(session)
        guardian = make_guardian(session, make_family(session, school))
        admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
        tokens = [start_session(session, guardian, now=utcnow()).token for _ in range(4)]
        admin_token = start_session(session, admin, now=utcnow()).token

    errors: list[str] = []
    staff = _context(browser, live_server, cookie, admin_token).new_page()
    family = _context(browser, live_server, cookie, tokens[0]).new_page()
    for page in (staff, family):
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
    try:
        # Four devices of one account, the family's browser first: a notice for the school.
        family.goto(f"{live_server.url}/events")
        assert family.url.endswith("/events")
        for token in tokens[1:]:
            device = app.test_client()
            device.set_cookie(cookie, token)
            assert device.get("/events").status_code == 200

        staff.goto(f"{live_server.url}/guard/alerts")
        # The chart library is served by the application and draws under its CSP.
        staff.wait_for_function("() => !!(window.Chart && window.Chart.getChart('guard-chart'))")
        staff.locator("#guard-alerts a").first.click()
        staff.wait_for_url("**/guard/alerts/*")
        assert staff.locator("#alert-step").inner_text() == "notice"
        staff.locator("#action-step_up").click()
        staff.wait_for_load_state()
        assert staff.locator("#alert-step").inner_text() == "step_up"

        family.goto(f"{live_server.url}/events")
        family.wait_for_url(
            re.compile(r".*/account/step-up\?next=%2Fevents$|.*/account/step-up\?next=/events$")
        )
        assert family.locator("#step-up-title").is_visible()
    finally:
        staff.context.close()
        family.context.close()
    assert errors == []
