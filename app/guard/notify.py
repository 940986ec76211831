"""What the guard tells people by e-mail.

- **The one-time code of a step-up**: after the family signs in afresh at its provider, a
  six-digit code goes to the family's contact on the school's roster — not to the address
  of the sign-in account, which whoever shares the login may also read. The session is
  stepped up once the code is entered. A roster contact that is not an e-mail address
  (a phone number) means no code: the fresh sign-in alone clears the step-up, and the
  dashboard still shows the alert.
- **A notice to the family** when its account reaches the notice step ("a new device
  signed in"), to the same roster contact.
- **The school at once** when an account, device or network reaches a block or a revoke.
- **The school's daily digest** of the day's alerts, to each of its administrators.

Every message is queued in the outbox with the step that causes it
(:mod:`app.mail.services`) and sent after the request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffRole, StaffUser
from app.errors import Conflict, Invalid
from app.guard.models import GuardAlert, GuardStepUp, Step
from app.i18n import gettext as _
from app.mail.models import OutgoingMail
from app.mail.services import is_address, queue_mail
from app.schools.models import Family

CODE_LIFETIME = dt.timedelta(minutes=10)
CODE_TRIES = 5


def roster_contact(guardian: Guardian) -> str | None:
    """The family's e-mail contact on the school's roster, if it has one."""
    family: Family | None = guardian.family
    contact = family.contact.strip() if family is not None and family.contact else None
    return contact if is_address(contact) else None


def _code_hash(key: bytes, session_id: int, code: str) -> str:
    return hmac.new(key, f"step-up|{session_id}|{code}".encode(), hashlib.sha256).hexdigest()


def send_code(
    session: Session,
    guardian: Guardian,
    session_id: int,
    contact: str,
    *,
    key: bytes,
    now: dt.datetime,
) -> GuardStepUp:
    """A new code for this session, mailed to ``contact`` (flushed); an earlier one dies."""
    code = f"{secrets.randbelow(10**6):06d}"
    row = session.scalar(select(GuardStepUp).where(GuardStepUp.session_id == session_id))
    if row is None:
        row = GuardStepUp(guardian_id=guardian.id, session_id=session_id)
        session.add(row)
    row.verified_at = None
    row.code_hash = _code_hash(key, session_id, code)
    row.code_sent_to = contact
    row.code_expires_at = now + CODE_LIFETIME
    row.code_attempts = 0
    queue_mail(
        session,
        kind="guard.code",
        to=contact,
        subject=_("Your PhotoGate confirmation code"),
        body=_(
            "Someone signed in to a PhotoGate family account of your household and was asked"
            " to confirm it is really you.\n\nThe code is: %(code)s\n\nIt works for 10"
            " minutes. If this was not you, do not give the code to anyone and tell your"
            " school.",
            code=code,
        ),
        now=now,
    )
    session.flush()
    return row


def code_waiting(session: Session, session_id: int | None) -> GuardStepUp | None:
    """The code this session was sent and has not entered yet."""
    if session_id is None:
        return None
    return session.scalar(
        select(GuardStepUp).where(
            GuardStepUp.session_id == session_id,
            GuardStepUp.code_hash.is_not(None),
            GuardStepUp.verified_at.is_(None),
        )
    )


def enter_code(
    session: Session, row: GuardStepUp, code: str, *, key: bytes, now: dt.datetime
) -> None:
    """Check ``code``; the session is stepped up when it is right (flushed).

    Wrong, expired or too many tries raise with words the family can act on.
    """
    if row.code_hash is None or row.code_expires_at is None:
        raise Conflict(_("No code was sent for this sign-in."))
    if now >= row.code_expires_at:
        raise Invalid(_("This code has expired. Ask for a new one."))
    if row.code_attempts >= CODE_TRIES:
        raise Conflict(_("Too many wrong codes. Ask for a new one."))
    row.code_attempts += 1
    given = "".join(ch for ch in code if not ch.isspace())
    if not (given.isascii() and given.isdigit() and len(given) == 6) or not hmac.compare_digest(
        row.code_hash, _code_hash(key, row.session_id, given)
    ):
        session.flush()
        raise Invalid(_("That code is not right. Check the e-mail and try again."))
    row.verified_at = now
    row.code_hash = None
    session.flush()


def tell_family_of_notice(
    session: Session, guardian: Guardian, alert: GuardAlert, *, now: dt.datetime
) -> OutgoingMail | None:
    """The family learns that its account was used in an unusual way (flushed)."""
    contact = roster_contact(guardian)
    if contact is None:
        return None
    return queue_mail(
        session,
        kind="guard.notice",
        to=contact,
        subject=_("A new device signed in to your PhotoGate account"),
        body=_(
            "A device that had not been used before signed in to the PhotoGate account of"
            " %(name)s. If this was you or someone in your household, there is nothing to"
            " do. If not, tell your school and quote the reference %(reference)s.",
            name=guardian.display_name,
            reference=alert.reference,
        ),
        now=now,
    )


def _school_admins(session: Session, school_id: int | None) -> Sequence[StaffUser]:
    if school_id is None:
        return []
    return session.scalars(
        select(StaffUser).where(
            StaffUser.school_id == school_id,
            StaffUser.role == StaffRole.SCHOOL_ADMIN,
            StaffUser.is_active.is_(True),
        )
    ).all()


def tell_school_now(
    session: Session, alert: GuardAlert, step: Step, *, now: dt.datetime
) -> list[OutgoingMail]:
    """A block or revoke is mailed to the school's administrators at once (flushed)."""
    return [
        queue_mail(
            session,
            kind="guard.alert",
            to=admin.email,
            subject=_(
                "PhotoGate blocked a family account: %(reference)s", reference=alert.reference
            ),
            body=_(
                'The guard reached the step "%(step)s" for %(entity)s (score %(score)s,'
                " reference %(reference)s). The evidence and the actions to lift or dismiss it"
                " are on the alerts page of the school's dashboard.",
                step=str(step),
                entity=alert.entity,
                score=alert.score,
                reference=alert.reference,
            ),
            now=now,
        )
        for admin in _school_admins(session, alert.school_id)
        if is_address(admin.email)
    ]


def send_digests(session: Session, *, now: dt.datetime) -> int:
    """Each school's alerts of the last day, to its administrators, once a UTC day (flushed).

    Returns how many digests were queued. Schools with no alert that day get none.
    """
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
    already = set(
        session.scalars(
            select(OutgoingMail.to_address).where(
                OutgoingMail.kind == "guard.digest", OutgoingMail.created_at >= today
            )
        )
    )
    alerts = session.scalars(
        select(GuardAlert)
        .where(GuardAlert.created_at >= now - dt.timedelta(days=1))
        .order_by(GuardAlert.created_at)
    ).all()
    by_school: dict[int, list[GuardAlert]] = {}
    for alert in alerts:
        if alert.school_id is not None:
            by_school.setdefault(alert.school_id, []).append(alert)
    queued = 0
    for school_id, found in by_school.items():
        lines = "\n".join(f"- {a.reference} {a.entity[:60]}: {a.step} ({a.score})" for a in found)
        for admin in _school_admins(session, school_id):
            if not is_address(admin.email) or admin.email in already:
                continue
            queue_mail(
                session,
                kind="guard.digest",
                to=admin.email,
                subject=_("PhotoGate: %(count)s alerts in the last day", count=len(found)),
                body=_(
                    "Alerts of the guard in the last 24 hours:\n\n%(lines)s\n\nThe evidence"
                    " and the actions are on the alerts page of the school's dashboard.",
                    lines=lines,
                ),
                now=now,
            )
            queued += 1
    return queued
