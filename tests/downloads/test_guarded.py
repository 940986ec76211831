"""The guard watches download asks: asking far more often than the purchases allow is
answered 429 and raises an alert the school sees, while a family's ordinary downloads
never meet it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.guard.models import GuardAlert
from tests.downloads.conftest import Paid, ask
from tests.factories import make_school, make_staff
from tests.orders.conftest import Signer, csrf
from tests.support.web import dashboard_chart, sign_in


def test_download_asks_beyond_twice_the_purchases_are_throttled_and_alerted(
    paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    token = csrf(client, "/orders/downloads")
    # Three photos bought with three downloads each: 9, so the floor of 20 asks applies.
    statuses = [
        client.post(
            f"/downloads/entitlements/{paid.entitlements[n % 3].id}",
            data={"csrf_token": token},
        ).status_code
        for n in range(22)
    ]
    assert statuses[:20] == [303] * 20  # links made, none used: nothing is spent
    assert statuses[20:] == [429, 429]
    session.expire_all()
    (alert,) = session.scalars(
        select(GuardAlert).where(GuardAlert.entity == f"account:{paid.gallery.guardian.id}")
    ).all()
    rules = [f["rule"] for f in alert.findings if f["points"]]
    assert rules == ["downloads_beyond_purchases"]
    evidence = next(f for f in alert.findings if f["rule"] == "downloads_beyond_purchases")
    assert evidence["evidence"]["purchased"] == 9


def test_the_dashboard_charts_the_schools_downloads_per_day(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    family = app.test_client()
    sign_in(app, family, session, paid.gallery.guardian)
    for entitlement in paid.entitlements[:2]:
        assert family.get(ask(family, entitlement.id)).status_code == 200
    ask(family, paid.entitlements[2].id)  # asked for, never fetched: not a download sent

    assert paid.gallery.admin is not None
    chart = dashboard_chart(login_as(paid.gallery.admin).get("/guard/alerts").text)
    assert chart["downloads"][-1] == 2
    assert len(chart["downloads"]) == len(chart["labels"])

    other = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)
    session.commit()
    elsewhere = app.test_client()
    sign_in(app, elsewhere, session, other)
    assert sum(dashboard_chart(elsewhere.get("/guard/alerts").text)["downloads"]) == 0


def test_the_alert_shows_the_accounts_downloads_as_evidence(
    paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    token = csrf(client, "/orders/downloads")
    for n in range(21):
        client.post(
            f"/downloads/entitlements/{paid.entitlements[n % 3].id}", data={"csrf_token": token}
        )
    session.expire_all()
    (alert,) = session.scalars(
        select(GuardAlert).where(GuardAlert.entity == f"account:{paid.gallery.guardian.id}")
    ).all()
    assert paid.gallery.admin is not None
    page = login_as(paid.gallery.admin).get(f"/guard/alerts/{alert.id}").text
    table = page.split("data-downloads", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 20  # the header and each ask that made a link
