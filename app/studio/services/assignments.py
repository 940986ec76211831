"""Which photographers work on which events, and which events a staff member sees."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser
from app.auth.policies import Actor
from app.errors import Forbidden, Invalid
from app.photos.models import Event, event_photographers
from app.studio.policies import can_assign_photographers

logger = logging.getLogger(__name__)


class NotAPhotographer(Invalid):
    """Only active photographer accounts can be assigned to events."""


def assign_photographer(
    session: Session, actor: Actor, event: Event, photographer: StaffUser
) -> bool:
    """Assign ``photographer`` to ``event``; False if they already were (flushed)."""
    if not can_assign_photographers(actor, event):
        raise Forbidden()
    if photographer.role is not StaffRole.PHOTOGRAPHER or not photographer.is_active:
        raise NotAPhotographer(f"{photographer.email} is not an active photographer account")
    if any(p.id == photographer.id for p in event.photographers):
        return False
    event.photographers.append(photographer)
    session.flush()
    logger.info("photographer %s assigned to event %s", photographer.id, event.id)
    return True


def unassign_photographer(
    session: Session, actor: Actor, event: Event, photographer: StaffUser
) -> bool:
    """Remove the assignment; False if there was none (flushed).

    Photos the photographer already uploaded stay with the event.
    """
    if not can_assign_photographers(actor, event):
        raise Forbidden()
    for assigned in list(event.photographers):
        if assigned.id == photographer.id:
            event.photographers.remove(assigned)
            session.flush()
            logger.info("photographer %s unassigned from event %s", photographer.id, event.id)
            return True
    return False


def assigned_events(session: Session, photographer: StaffUser) -> list[Event]:
    """The events ``photographer`` is assigned to, newest first."""
    return list(
        session.scalars(
            select(Event)
            .join(event_photographers, event_photographers.c.event_id == Event.id)
            .where(event_photographers.c.staff_user_id == photographer.id)
            .order_by(Event.event_date.desc(), Event.id.desc())
        )
    )


def studio_events(session: Session, user: StaffUser) -> list[Event]:
    """The events a staff member works on: assigned, their school's, or all (operators)."""
    if not user.is_active:
        return []
    if user.role is StaffRole.PHOTOGRAPHER:
        return assigned_events(session, user)
    query = select(Event).order_by(Event.event_date.desc(), Event.id.desc())
    if user.role is StaffRole.SCHOOL_ADMIN:
        if user.school_id is None:
            return []
        query = query.where(Event.school_id == user.school_id)
    return list(session.scalars(query))


def photographers(session: Session) -> list[StaffUser]:
    """Every active photographer account, for assignment forms."""
    return list(
        session.scalars(
            select(StaffUser)
            .where(StaffUser.role == StaffRole.PHOTOGRAPHER, StaffUser.is_active.is_(True))
            .order_by(StaffUser.display_name, StaffUser.email)
        )
    )


def find_staff_by_email(session: Session, email: str) -> StaffUser | None:
    """The staff account with this e-mail address (stored lower-cased)."""
    return session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
