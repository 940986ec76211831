"""A case suspends the named family's downloads and lifts it again; the operator is told of
a case and the school can take it back. Each action is audited, and nothing the family
paid for is lost."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import StaffRole, StaffUser
from app.deliveries.models import Delivery
from app.downloads.models import DownloadSuspension
from app.investigate.models import Investigation, Verdict
from app.mail.models import OutgoingMail
from app.orders.models import Entitlement
from tests.downloads.conftest import Paid, ask
from tests.factories import make_school, make_staff
from tests.orders.conftest import Signer, csrf
from tests.support.web import Clock, in_english, sign_in

PAUSED = "paused this family"


def _admin(paid: Paid) -> StaffUser:
    assert paid.gallery.admin is not None
    return paid.gallery.admin


def _case_naming(session: Session, paid: Paid, delivery: Delivery | None) -> Investigation:
    """A case whose search named ``delivery`` (or nothing). The search itself is tested in
    tests/investigate; these tests are about what a verdict lets the school do."""
    case = Investigation(
        school_id=paid.gallery.school.id,
        investigator_id=_admin(paid).id,
        suspect_sha256=secrets.token_hex(32),
        suspect_bytes=1000,
        suspect_format="JPEG",
        suspect_width=1280,
        suspect_height=960,
        wrapped_key=secrets.token_bytes(40),
        verdict=Verdict.DELIVERY if delivery is not None else Verdict.NO_MATCH,
        delivery_id=delivery.id if delivery is not None else None,
        photo_id=delivery.photo_id if delivery is not None else None,
        method="blind" if delivery is not None else None,
        results={},
    )
    session.add(case)
    session.commit()
    return case


def _downloaded(app: Flask, paid: Paid, session: Session) -> tuple[FlaskClient, Delivery]:
    """The guardian, signed in on their own browser, downloads the first photo."""
    family = in_english(app.test_client())
    sign_in(app, family, session, paid.gallery.guardian)
    assert family.get(ask(family, paid.entitlements[0].id)).status_code == 200
    delivery = session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    assert delivery is not None
    assert delivery.family_id == paid.gallery.family.id
    return family, delivery


def _post(client: FlaskClient, case: Investigation, action: str) -> int:
    url = f"/investigate/cases/{case.id}"
    response = client.post(f"{url}/{action}", data={"csrf_token": csrf(client, url)})
    return response.status_code


def _audited(session: Session, action: str) -> AuditEvent:
    session.expire_all()
    return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).one()


def _ask_status(family: FlaskClient, entitlement_id: int) -> tuple[int, str]:
    response = family.post(
        f"/downloads/entitlements/{entitlement_id}",
        data={"csrf_token": csrf(family, "/orders/downloads")},
    )
    return response.status_code, response.get_data(as_text=True)


def test_suspending_the_named_family_stops_its_downloads_and_lifting_gives_the_time_back(
    app: Flask, paid: Paid, login_as: Signer, session: Session, clock: Clock
) -> None:
    family, delivery = _downloaded(app, paid, session)
    case = _case_naming(session, paid, delivery)
    admin = in_english(login_as(_admin(paid)))
    before = {e.id: e.expires_at for e in session.scalars(select(Entitlement))}

    assert _post(admin, case, "suspend-downloads") == 303
    assert "downloads are suspended since" in admin.get(f"/investigate/cases/{case.id}").text
    suspended = _audited(session, "investigate.downloads_suspended")
    assert suspended.details["family_id"] == paid.gallery.family.id
    assert _post(admin, case, "suspend-downloads") == 409  # already

    status, page = _ask_status(family, paid.entitlements[1].id)
    assert status == 403
    assert PAUSED in page
    assert PAUSED in family.get("/orders/downloads").text
    zip_ask = family.post(
        f"/downloads/orders/{paid.order.id}/zip",
        data={"csrf_token": csrf(family, f"/orders/{paid.order.id}")},
    )
    assert zip_ask.status_code in (403, 409)
    assert family.get("/events").status_code == 200  # browsing is untouched

    clock.advance(days=2)  # both sign-ins have timed out meanwhile
    admin = in_english(login_as(_admin(paid)))
    sign_in(app, family, session, paid.gallery.guardian)
    assert _post(admin, case, "lift-downloads") == 303
    resumed = _audited(session, "investigate.downloads_resumed")
    assert resumed.details["entitlements_extended"] == len(paid.entitlements)
    session.expire_all()
    for entitlement in session.scalars(select(Entitlement)):
        assert entitlement.expires_at - before[entitlement.id] == dt.timedelta(days=2)
    assert PAUSED not in family.get("/orders/downloads").text
    assert family.get(ask(family, paid.entitlements[1].id)).status_code == 200
    assert _post(admin, case, "lift-downloads") == 409  # nothing in force


def test_a_link_asked_for_before_the_suspension_is_refused_and_spends_nothing(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    family, delivery = _downloaded(app, paid, session)
    link = ask(family, paid.entitlements[1].id)
    case = _case_naming(session, paid, delivery)
    assert _post(login_as(_admin(paid)), case, "suspend-downloads") == 303
    response = family.get(link)
    assert response.status_code == 403
    assert PAUSED in response.text
    session.expire_all()
    entitlement = session.get(Entitlement, paid.entitlements[1].id)
    assert entitlement is not None
    assert entitlement.downloads_used == 0


def test_a_case_without_a_named_family_cannot_suspend(
    paid: Paid, login_as: Signer, session: Session
) -> None:
    case = _case_naming(session, paid, None)
    admin = in_english(login_as(_admin(paid)))
    assert _post(admin, case, "suspend-downloads") == 409
    assert _post(admin, case, "lift-downloads") == 409
    assert session.scalars(select(DownloadSuspension)).first() is None


def test_the_operator_is_told_of_an_escalated_case_and_the_school_can_take_it_back(
    app: Flask,
    paid: Paid,
    login_as: Signer,
    session: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _family, delivery = _downloaded(app, paid, session)
    case = _case_naming(session, paid, delivery)
    operator = make_staff(session, StaffRole.OPERATOR)
    session.commit()
    admin = in_english(login_as(_admin(paid)))

    with caplog.at_level(logging.WARNING, logger="app.investigate.actions"):
        assert _post(admin, case, "escalate") == 303
    assert f"investigation {case.id} escalated to the operator" in caplog.text
    escalated = _audited(session, "investigate.escalated")
    assert escalated.subject == f"investigation:{case.id}"
    assert escalated.details["operators_mailed"] == 1
    (mail,) = session.scalars(
        select(OutgoingMail).where(OutgoingMail.kind == "investigate.escalated")
    ).all()
    assert mail.to_address == operator.email
    assert f"/investigate/cases/{case.id}" in mail.body
    assert paid.gallery.guardian.display_name not in mail.body  # no family in the mail
    assert _post(admin, case, "escalate") == 409
    assert "Escalated to the platform operator" in admin.get(f"/investigate/cases/{case.id}").text
    assert "data-escalated-cases" not in admin.get("/investigate/").text  # operators' list

    desk = in_english(app.test_client())
    sign_in(app, desk, session, operator)
    listing = desk.get("/investigate/").text
    assert "data-escalated-cases" in listing
    assert f"/investigate/cases/{case.id}" in listing.split("data-escalated-cases", 1)[1]

    assert _post(admin, case, "withdraw-escalation") == 303
    _audited(session, "investigate.escalation_withdrawn")
    assert "data-escalated-cases" not in desk.get("/investigate/").text
    assert _post(admin, case, "withdraw-escalation") == 409


def test_another_schools_administrator_cannot_act_on_the_case(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    _family, delivery = _downloaded(app, paid, session)
    case = _case_naming(session, paid, delivery)
    other = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)
    session.commit()
    client = login_as(other)
    client.application.config["WTF_CSRF_ENABLED"] = False
    for action in ("suspend-downloads", "lift-downloads", "escalate", "withdraw-escalation"):
        assert client.post(f"/investigate/cases/{case.id}/{action}").status_code == 404
    session.expire_all()
    assert session.scalars(select(DownloadSuspension)).first() is None
    assert session.get(Investigation, case.id).escalated_at is None  # type: ignore[union-attr]
