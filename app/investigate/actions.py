"""What a case can do about the family it names, and undo.

- Suspend the family's downloads (:mod:`app.downloads.suspensions`): lifted from the same
  case, the download time it lasted is given back.
- Escalate the case to the platform's operators: it heads their case list, each operator
  is mailed, and a warning goes to the log they watch; the school can withdraw it.

Signing the guardian out everywhere (``revoke_named_sessions``) needs no undoing: it
stops whoever holds their sessions, and the guardian signs in again with their provider.
Every action is audited by the view that calls it.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser
from app.auth.policies import Actor, actor_id
from app.downloads.models import DownloadSuspension
from app.downloads.suspensions import lift_suspension, suspend_downloads, suspension_in_force
from app.errors import Conflict, NotFound
from app.i18n import gettext as _
from app.investigate.models import Investigation, Verdict
from app.investigate.policies import knows_case
from app.mail.services import is_address, queue_mail

logger = logging.getLogger(__name__)


def named_family_id(case: Investigation) -> int | None:
    """The family of the delivery the case names, if it names a family's delivery."""
    if case.verdict is not Verdict.DELIVERY or case.delivery is None:
        return None
    return case.delivery.family_id


def _family_of(actor: Actor, case: Investigation) -> int:
    if not knows_case(actor, case):
        raise NotFound()
    family_id = named_family_id(case)
    if family_id is None:
        raise Conflict(_("This case names no family's delivery."))
    return family_id


def family_suspension(session: Session, case: Investigation) -> DownloadSuspension | None:
    """The suspension in force on the named family, whoever made it."""
    family_id = named_family_id(case)
    return suspension_in_force(session, family_id) if family_id is not None else None


def suspend_named_family(
    session: Session, actor: Actor, case: Investigation, *, now: dt.datetime
) -> DownloadSuspension:
    """Suspend the downloads of the family the case names (flushed)."""
    family_id = _family_of(actor, case)
    return suspend_downloads(
        session,
        family_id,
        staff_id=actor_id(actor),
        reason=f"investigation {case.id}",
        now=now,
        investigation_id=case.id,
    )


def lift_named_family(
    session: Session, actor: Actor, case: Investigation, *, now: dt.datetime
) -> tuple[DownloadSuspension, int]:
    """Lift the suspension of the named family (flushed); it and the purchases extended."""
    family_id = _family_of(actor, case)
    suspension = suspension_in_force(session, family_id)
    if suspension is None:
        raise Conflict(_("This family's downloads are not suspended."))
    return suspension, lift_suspension(session, suspension, staff_id=actor_id(actor), now=now)


def escalate(
    session: Session, actor: Actor, case: Investigation, *, now: dt.datetime, case_url: str = ""
) -> int:
    """Bring the case to the operators' attention (flushed); returns the mails queued.

    Each active operator with an address is mailed the case's number, school, verdict and
    link; no family's or child's details go into the mail.
    """
    if not knows_case(actor, case):
        raise NotFound()
    if case.escalated_at is not None:
        raise Conflict(_("The operator has already been told of this case."))
    case.escalated_at = now
    case.escalated_by_id = actor_id(actor)
    session.flush()
    # Operators' log alerting watches warnings; the case list shows it on their next visit.
    logger.warning(
        "investigation %s escalated to the operator (school %s, verdict %s)",
        case.id,
        case.school_id,
        case.verdict,
    )
    operators = session.scalars(
        select(StaffUser).where(StaffUser.role == StaffRole.OPERATOR, StaffUser.is_active.is_(True))
    ).all()
    queued = 0
    for operator in operators:
        if not is_address(operator.email):
            continue
        queue_mail(
            session,
            kind="investigate.escalated",
            to=operator.email,
            subject=_("A school asks for help with leak investigation #%(id)s", id=case.id),
            body=_(
                "%(school)s brought leak investigation #%(id)s to the platform operator"
                " (verdict: %(verdict)s). The case, its evidence and its actions: %(url)s",
                school=case.school.name if case.school else _("Every school"),
                id=case.id,
                verdict=str(case.verdict or "-"),
                url=case_url or f"/investigate/cases/{case.id}",
            ),
            now=now,
        )
        queued += 1
    return queued


def withdraw_escalation(session: Session, actor: Actor, case: Investigation) -> None:
    """Take the case back from the operators' attention (flushed)."""
    if not knows_case(actor, case):
        raise NotFound()
    if case.escalated_at is None:
        raise Conflict(_("This case is not with the operator."))
    case.escalated_at = None
    case.escalated_by_id = None
    session.flush()


def escalated_cases(session: Session, *, limit: int = 50) -> list[Investigation]:
    """Cases escalated to the operators, oldest first (for operators' eyes only)."""
    return list(
        session.scalars(
            select(Investigation)
            .where(Investigation.escalated_at.is_not(None))
            .order_by(Investigation.escalated_at)
            .limit(limit)
        )
    )
