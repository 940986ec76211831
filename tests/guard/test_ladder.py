"""The guard seen from outside: what a family's requests get as the signals add up."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import Guardian, UserSession
from app.guard.models import AlertStatus, GuardAlert, Step
from tests.guard.conftest import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, Device


def _alerts(session: Session, entity_prefix: str) -> list[GuardAlert]:
    session.expire_all()
    return list(
        session.scalars(
            select(GuardAlert)
            .where(GuardAlert.entity.startswith(entity_prefix))
            .order_by(GuardAlert.id)
        )
    )


def _audited(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_one_account_from_five_devices_gets_a_notice_at_the_fourth_and_a_step_up_at_the_fifth(
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    account = f"account:{guardian.id}"
    devices = [device(guardian, ip=f"192.0.2.{10 + n}") for n in range(5)]

    for browser in devices[:3]:
        assert browser.get("/events").status_code == 200
    assert _alerts(session, account) == []

    assert devices[3].get("/events").status_code == 200
    (alert,) = _alerts(session, account)
    assert alert.step is Step.NOTICE
    assert {f["rule"] for f in alert.findings if f["points"]} == {"devices_30d"}
    assert len(_audited(session, "guard.notice")) == 1

    fifth = devices[4].get("/events")
    assert fifth.status_code == 302
    assert fifth.headers["Location"].startswith("/account/step-up")
    (alert,) = _alerts(session, account)
    assert alert.step is Step.STEP_UP
    assert alert.score == 60
    assert [t["step"] for t in alert.timeline] == ["notice", "step_up"]
    assert len(_audited(session, "guard.step_up")) == 1
    # Every session from before the step-up must re-authenticate, not only the fifth.
    assert devices[0].get("/events").status_code == 302
    page = devices[0].get("/account/step-up?next=/events")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="step-up-title"' in html
    assert 'id="step-up-done"' not in html


def test_one_device_cycling_ten_accounts_is_alerted_at_the_third_and_blocked_from_the_fourth(
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    browser = device()
    statuses = []
    for _ in range(10):
        device(new_guardian(), client=browser.client)
        statuses.append(browser.get("/events").status_code)
        if len(statuses) == 3:
            (alert,) = _alerts(session, "device:")
            assert alert.step is Step.NOTICE
    assert statuses == [200, 200, 200] + [403] * 7
    (alert,) = _alerts(session, "device:")
    assert alert.step is Step.REVOKE
    assert {f["rule"] for f in alert.findings if f["points"]} == {"families_per_device"}
    assert len(_audited(session, "guard.revoke")) == 1


def test_the_blocked_page_names_the_reason_and_a_reference(
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    browser = device()
    for _ in range(4):
        device(new_guardian(), client=browser.client)
        response = browser.get("/events")
    assert response.status_code == 403
    (alert,) = _alerts(session, "device:")
    html = response.get_data(as_text=True)
    assert alert.reference in html
    assert 'id="blocked-reason"' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_siblings_two_families_on_one_device_are_not_flagged(
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    browser = device()
    for _ in range(2):
        device(new_guardian(), client=browser.client)
        for _ in range(3):
            assert browser.get("/events").status_code == 200
    assert _alerts(session, "") == []


def test_a_session_cookie_moved_to_another_browser_is_revoked(
    app: Flask,
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    owner = device(guardian, user_agent=CHROME_WINDOWS)
    assert owner.get("/events").status_code == 200
    thief = device(user_agent=FIREFOX_LINUX, ip="198.51.100.7")
    for cookie in ("photogate-sid",):
        value = owner.client.get_cookie(cookie)
        assert value is not None
        thief.client.set_cookie(cookie, value.value)

    stolen = thief.get("/events")
    assert stolen.status_code == 403
    (alert,) = _alerts(session, f"account:{guardian.id}")
    assert alert.step is Step.REVOKE
    assert [f["rule"] for f in alert.findings if f["points"]] == ["session_moved"]
    open_sessions = session.scalars(
        select(UserSession).where(
            UserSession.guardian_id == guardian.id, UserSession.ended_at.is_(None)
        )
    ).all()
    assert open_sessions == []
    assert len(_audited(session, "guard.revoke")) == 1
    # The owner's own browser was signed out too (the school re-issues access).
    assert owner.get("/events").status_code == 302


def test_a_known_household_dismissed_by_the_school_stops_re_alerting(
    app: Flask,
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
    login_as: Callable[..., object],
) -> None:
    from app.auth.models import StaffRole
    from tests.factories import make_staff

    guardian = new_guardian()
    family = guardian.family
    assert family is not None
    devices = [device(guardian, user_agent=SAFARI_IPHONE) for _ in range(4)]
    for browser in devices:
        assert browser.get("/events").status_code == 200
    (alert,) = _alerts(session, f"account:{guardian.id}")

    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=family.school_id)
    session.commit()
    app.config["WTF_CSRF_ENABLED"] = False
    staff_client = app.test_client()
    from tests.support.web import sign_in

    sign_in(app, staff_client, session, admin)
    response = staff_client.post(f"/guard/alerts/{alert.id}/dismiss")
    assert response.status_code == 303
    (alert,) = _alerts(session, f"account:{guardian.id}")
    assert alert.status is AlertStatus.DISMISSED
    assert len(_audited(session, "guard.staff_dismiss")) == 1

    for browser in devices:
        assert browser.get("/events").status_code == 200
    assert [a.status for a in _alerts(session, f"account:{guardian.id}")] == [AlertStatus.DISMISSED]
