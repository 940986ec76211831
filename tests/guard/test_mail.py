"""What the guard tells by e-mail: the family of a notice on its account (at the roster's
contact), the school's administrators of a block at once, and each school a daily digest.
Mail is written to the outbox with the step, and sent afterwards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffRole
from app.db import utcnow
from app.guard.models import GuardAlert
from app.guard.notify import send_digests
from app.jobs import JobQueue
from app.mail.models import OutgoingMail
from app.mail.services import deliver_pending
from app.schools.models import School
from app.web.context import runtime
from tests.factories import make_family, make_guardian, make_staff
from tests.guard.conftest import Device


def _mail(session: Session, kind: str) -> list[OutgoingMail]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutgoingMail).where(OutgoingMail.kind == kind).order_by(OutgoingMail.id)
        )
    )


def _one_browser_through_families(
    count: int, new_guardian: Callable[[], Guardian], device: Callable[..., Device]
) -> None:
    """One browser signs in to ``count`` families in turn, each looking at its events."""
    browser = device()
    for _ in range(count):
        device(new_guardian(), client=browser.client)
        browser.get("/events")


def test_the_family_is_mailed_at_its_roster_contact_when_its_account_reaches_a_notice(
    app: Flask, session: Session, school: School, device: Callable[..., Device]
) -> None:
    runtime(app).jobs = JobQueue(None)  # the embedded default: no queue, mail goes at once
    family = make_family(session, school, contact="home@example.net")
    guardian = make_guardian(session, family, email="login@example.com")
    session.commit()
    for n in range(4):  # the fourth device is the notice
        assert device(guardian, ip=f"192.0.2.{20 + n}").get("/events").status_code == 200
    (notice,) = _mail(session, "guard.notice")
    assert notice.to_address == "home@example.net"
    (alert,) = session.scalars(select(GuardAlert)).all()
    assert alert.reference in notice.body  # in the family's language, with the reference
    assert guardian.display_name in notice.body
    assert notice.sent_at is not None  # the embedded default sends at once, to var/mail/
    assert list((runtime(app).settings.var_dir / "mail").glob("*-guard-notice.eml"))


def test_a_family_without_an_e_mail_on_the_roster_gets_no_mail(
    session: Session, school: School, device: Callable[..., Device]
) -> None:
    guardian = make_guardian(session, make_family(session, school, contact="090-1234-5678"))
    session.commit()
    for n in range(4):
        device(guardian, ip=f"192.0.2.{30 + n}").get("/events")
    assert _mail(session, "guard.notice") == []


def test_the_schools_administrators_are_mailed_at_once_when_a_device_is_blocked(
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id, is_active=False)
    session.commit()
    _one_browser_through_families(4, new_guardian, device)  # the fourth: revoke
    mails = _mail(session, "guard.alert")
    assert [m.to_address for m in mails] == [admin.email]
    (alert,) = session.scalars(select(GuardAlert)).all()
    assert alert.reference in mails[0].subject


def test_each_school_gets_one_digest_a_day_of_its_own_alerts(
    app: Flask,
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    elsewhere = make_staff(
        session, StaffRole.SCHOOL_ADMIN, school_id=make_family(session).school_id
    )
    session.commit()
    _one_browser_through_families(3, new_guardian, device)  # the third: a notice
    now = utcnow()
    assert send_digests(session, now=now) == 1
    session.commit()
    assert send_digests(session, now=now + dt.timedelta(hours=1)) == 0  # once a day
    (digest,) = _mail(session, "guard.digest")
    assert digest.to_address == admin.email
    assert "G-" in digest.body
    assert elsewhere.email not in {m.to_address for m in _mail(session, "guard.digest")}


def test_a_mail_that_cannot_be_sent_is_kept_and_retried(app: Flask, session: Session) -> None:
    from app.mail.services import queue_mail

    queue_mail(
        session, kind="test.mail", to="someone@example.org", subject="s", body="b", now=utcnow()
    )
    session.commit()
    held = runtime(app)
    held.settings = held.settings.with_overrides(smtp_url="smtp://127.0.0.1:9")  # refused
    assert deliver_pending(held) == 0
    (kept,) = _mail(session, "test.mail")
    assert kept.sent_at is None
    assert kept.attempts == 1
    assert kept.last_error.startswith("ConnectionRefusedError")


def test_the_outbox_is_sent_through_a_real_smtp_server(app: Flask, session: Session) -> None:
    from aiosmtpd.controller import Controller

    from app.mail.services import queue_mail
    from tests.support.services import free_port

    received: list[tuple[str, list[str], bytes]] = []

    class Collect:
        async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
            self, server: object, smtp_session: object, envelope: Any
        ) -> str:
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        queue_mail(
            session,
            kind="guard.code",
            to="family@example.org",
            subject="Your PhotoGate confirmation code",
            body="The code is: 123456",
            now=utcnow(),
        )
        session.commit()
        held = runtime(app)
        held.settings = held.settings.with_overrides(smtp_url=f"smtp://127.0.0.1:{port}")
        assert deliver_pending(held) == 1
        assert deliver_pending(held) == 0  # sent once
    finally:
        controller.stop()
    ((sender, recipients, content),) = received
    assert recipients == ["family@example.org"]
    assert sender == "no-reply@localhost"
    assert b"Subject: Your PhotoGate confirmation code" in content
    assert b"The code is: 123456" in content
