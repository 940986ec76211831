"""A guardian signs in through the real provider in a real browser, then joins with a code."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.local_provider import ClientSpec, LocalProvider, UserSpec
from app.auth.models import Guardian
from app.auth.policies import SYSTEM
from app.db import utcnow
from app.families.services import issue_roster_invitations
from app.web.context import runtime
from tests.conftest import LiveServer
from tests.factories import make_classroom, make_family, make_school, make_student

pytestmark = pytest.mark.browser


def test_guardian_goes_from_letter_to_family_in_a_browser(
    live_server: LiveServer,
    page_factory: Any,
    oidc: LocalProvider,
    oidc_client: ClientSpec,
    oidc_users: dict[str, UserSpec],
) -> None:
    oidc.set_redirect_uris(oidc_client.client_id, [f"{live_server.url}/auth/callback/local"])
    database = runtime(live_server.app).database
    with database.session_scope() as session:
        school = make_school(session, name="Browser School")
        family = make_family(session, school)
        make_student(session, family, make_classroom(session, school), name="Mika")
        code = issue_roster_invitations(
            session,
            SYSTEM,
            school,
            [family.id],
            key=runtime(live_server.app).keys.codes,
            now=utcnow(),
        )[0].code
    page = page_factory()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    # The QR code on the letter leads here.
    page.goto(f"{live_server.url}/join?code={code}")
    assert "/signin" in page.url
    page.click("button[data-provider=local]")
    page.wait_for_url(f"{oidc.base_url}/**")
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", oidc_users["carol"].password)
    page.click("#login")
    page.wait_for_url(f"{live_server.url}/join?code={code}")
    assert page.input_value("input[name=code]") == code
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/family")
    assert "Mika" in page.content()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["photogate-sid"]["httpOnly"]
    assert cookies["photogate-sid"]["sameSite"] == "Lax"
    # No CSP violation or script error on the way.
    assert errors == []
    with Session(database.engine) as session:
        guardian = session.scalar(
            select(Guardian).where(Guardian.subject == oidc_users["carol"].sub)
        )
        assert guardian is not None
        assert guardian.family_id == family.id
    # Sign out is a POST from the page.
    page.click(".account-menu button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/family")
    assert "/signin" in page.url
