"""The whole purchase in Chromium on a phone, in Japanese: sign in at the OpenID provider,
the family's events, an event, a preview, the cart, a school invoice; the school marks it
paid; the family downloads the photo, and the saved file's mark names the delivery that the
family's download history shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.local_provider import ClientSpec, LocalProvider, UserSpec
from app.auth.models import StaffRole
from app.auth.policies import SYSTEM
from app.auth.sessions import start_session
from app.db import utcnow
from app.deliveries.models import Delivery, DeliveryKind
from app.jobs import JobQueue
from app.orders.services import set_prices
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.auth.conftest import oidc_secret_file, provider_config
from tests.conftest import LiveServer
from tests.downloads.conftest import read_mark
from tests.factories import (
    make_classroom,
    make_event,
    make_family,
    make_guardian,
    make_school,
    make_staff,
    make_student,
)
from tests.orders.conftest import PRICES
from tests.support.gallery import ready_photos

pytestmark = pytest.mark.browser

__all__ = ["oidc_secret_file"]  # the provider's client secret, as the identity tests make it

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_server_overrides(
    oidc_provider: LocalProvider, oidc_client: ClientSpec, oidc_secret_file: Path
) -> dict[str, Any]:
    return {"oidc_providers": (provider_config(oidc_provider, oidc_client, oidc_secret_file),)}


def _phone(browser: Any, locale: str = "ja-JP") -> Any:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True, locale=locale
    )
    return context.new_page()


def test_a_guardian_buys_on_a_phone_in_japanese_and_the_school_marks_it_paid(
    live_server: LiveServer,
    browser: Any,
    oidc: LocalProvider,
    oidc_client: ClientSpec,
    oidc_users: dict[str, UserSpec],
    tmp_path: Path,
) -> None:
    app = live_server.app
    runtime(app).jobs = JobQueue(None)
    oidc.set_redirect_uris(oidc_client.client_id, [f"{live_server.url}/auth/callback/local"])
    with runtime(app).database.session_scope() as session:
        school = make_school(session, name="Journey School")
        classroom = make_classroom(session, school)
        family = make_family(session, school)
        make_student(session, family, classroom, name="Mika")
        # The guardian joined the family with the school's letter earlier (tested on its own).
        make_guardian(session, family, issuer=oidc.issuer, subject=oidc_users["carol"].sub)
        event = make_event(session, school, audience=[classroom], title="Sports Day")
        admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
        session.flush()
        school_id, event_id = school.id, event.id
    with runtime(app).database.session_scope() as session:
        from app.photos.models import Event

        event = session.get(Event, event_id)
        assert event is not None
        photos = ready_photos(app, session, event, 2, size=(1200, 800))
        set_prices(
            session,
            SYSTEM,
            event,
            dict(PRICES),
            downloads_allowed=3,
            download_days=30,
            now=utcnow(),
        )
        first_photo = photos[0].id
        admin_token = start_session(session, admin, now=utcnow()).token

    page = _phone(browser)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{live_server.url}/events")
        assert "/signin" in page.url
        page.click("button[data-provider=local]")
        page.wait_for_url(f"{oidc.base_url}/**")
        page.fill("input[name=username]", "carol")
        page.fill("input[name=password]", oidc_users["carol"].password)
        page.click("#login")
        page.wait_for_url(f"{live_server.url}/events")
        assert page.locator("html").get_attribute("lang") == "ja"
        page.click(f"a[href='/events/{event_id}']")
        page.wait_for_url(f"**/events/{event_id}")
        page.locator("ul[data-grid] a").first.click()
        page.wait_for_url(f"**/events/{event_id}/photos/{first_photo}")
        preview = page.locator("img[data-preview]")
        preview.wait_for()
        assert page.evaluate("document.querySelector('img[data-preview]').naturalWidth") > 0
        page.select_option("select[name=product]", "digital")
        page.click("form.add-to-cart button[type=submit]")
        page.wait_for_url(f"**/events/{event_id}/photos/{first_photo}")
        page.goto(f"{live_server.url}/cart")
        assert page.locator("td[data-total]").get_attribute("data-total") == "1100"
        # Nothing on the cart page is wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.click("#checkout button[type=submit]")
        page.wait_for_url("**/orders/*")
        assert page.locator("[data-status]").get_attribute("data-status") == "pending"
        order_url = page.url
        order_id = int(order_url.rsplit("/", 1)[1])

        # The school administrator receives the bank transfer and marks the order paid.
        staff = _phone(browser, "ja-JP")
        with app.test_request_context():
            cookie = session_cookie_name()
        staff.context.add_cookies([{"name": cookie, "value": admin_token, "url": live_server.url}])
        staff.goto(f"{live_server.url}/schools/{school_id}/orders/{order_id}")
        staff.click("form[action$='/paid'] button[type=submit]")
        staff.wait_for_url(f"**/schools/{school_id}/orders/{order_id}")
        assert staff.locator("[data-status]").get_attribute("data-status") == "paid"
        staff.context.close()

        page.goto(order_url)
        assert page.locator("[data-status]").get_attribute("data-status") == "paid"
        page.goto(f"{live_server.url}/orders/downloads")
        row = page.locator("tr[data-entitlement] td[data-left]")
        assert row.get_attribute("data-left") == "3"
        page.goto(f"{live_server.url}/orders/{order_id}/receipt")
        assert "¥1,100" in page.content()

        # Download the bought photo, save the file, and read its mark.
        page.goto(f"{live_server.url}/orders/downloads")
        with page.expect_download() as download_info:
            page.click("tr[data-entitlement] form button[type=submit]")
        saved = tmp_path / "download.jpg"
        download_info.value.save_as(saved)
        found = read_mark(app, saved.read_bytes())
        with runtime(app).database.session_scope() as session:
            delivery = session.scalar(select(Delivery).where(Delivery.mark == found.payload))
            assert delivery is not None
            assert delivery.kind is DeliveryKind.DOWNLOAD
            delivery_id = delivery.id
        page.goto(f"{live_server.url}/downloads/history")
        assert page.locator(f"tr[data-delivery='{delivery_id}']").count() == 1
    finally:
        page.context.close()
    assert errors == []
