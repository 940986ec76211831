"""Rate limits of signed-in families count per account, whatever address they share."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.web.identity import rate_key
from tests.factories import make_guardian, make_staff
from tests.support.web import sign_in

ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}


def test_two_families_behind_one_address_have_their_own_budgets(
    app: Flask, session: Session
) -> None:
    seen: list[str] = []

    @app.get("/__rate_key")
    def probe() -> str:
        seen.append(rate_key())
        return "ok"

    first, second = make_guardian(session), make_guardian(session)
    staff = make_staff(session, StaffRole.PHOTOGRAPHER)
    session.commit()
    for account in (first, second, staff, None):
        client = app.test_client()
        if account is not None:
            sign_in(app, client, session, account)
        assert client.get("/__rate_key", environ_base=ADDRESS).status_code == 200
    assert seen == [
        f"guardian:{first.id}",
        f"guardian:{second.id}",
        f"staff:{staff.id}",
        "203.0.113.7",
    ]
