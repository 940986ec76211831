"""The school's controls: withhold and release photos, hold an event for review."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.auth.policies import Actor, actor_id
from app.db import changed_rows
from app.errors import Forbidden, Invalid
from app.i18n import gettext as _
from app.photos.models import Event, Photo
from app.studio.policies import can_moderate_photos

logger = logging.getLogger(__name__)

MAX_REASON: Final = 200


def _require(actor: Actor, event: Event) -> None:
    if not can_moderate_photos(actor, event):
        raise Forbidden()


def withhold_photo(
    session: Session, actor: Actor, photo: Photo, reason: str, *, now: dt.datetime
) -> None:
    """Hide a photo from families (flushed); the reason is for the school's records."""
    _require(actor, photo.event)
    clean = " ".join(reason.split())
    if not clean or len(clean) > MAX_REASON:
        raise Invalid(_("Give a reason of 1 to %(max)s characters.", max=MAX_REASON))
    photo.withheld_at = now
    photo.withheld_reason = clean
    photo.withheld_by_id = actor_id(actor)
    session.flush()
    logger.info("photo %s withheld by staff %s", photo.id, photo.withheld_by_id)


def release_photo(session: Session, actor: Actor, photo: Photo) -> bool:
    """Let families see a withheld photo again (once it is ready); False if it was not withheld."""
    _require(actor, photo.event)
    if photo.withheld_at is None:
        return False
    photo.withheld_at = None
    photo.withheld_reason = None
    photo.withheld_by_id = None
    session.flush()
    logger.info("photo %s released by staff %s", photo.id, actor_id(actor))
    return True


def hold_event(session: Session, actor: Actor, event: Event, *, now: dt.datetime) -> int:
    """Withhold every photo of the event until reviewed, new uploads included (flushed).

    Returns how many photos were newly withheld. They carry no reason, which marks them
    as awaiting review rather than withheld on purpose.
    """
    _require(actor, event)
    event.hold_new_uploads = True
    session.flush()
    withheld = changed_rows(
        session,
        update(Photo)
        .where(Photo.event_id == event.id, Photo.withheld_at.is_(None))
        .values(withheld_at=now, withheld_by_id=actor_id(actor)),
        synchronize="fetch",
    )
    logger.info("event %s held for review (%d photos withheld)", event.id, withheld)
    return withheld


def end_event_hold(session: Session, actor: Actor, event: Event) -> None:
    """New uploads arrive released again; photos already withheld stay withheld (flushed)."""
    _require(actor, event)
    event.hold_new_uploads = False
    session.flush()
    logger.info("event %s no longer holds new uploads", event.id)


def release_reviewed(session: Session, actor: Actor, event: Event) -> int:
    """Release every photo awaiting review; photos withheld with a reason stay withheld."""
    _require(actor, event)
    released = changed_rows(
        session,
        update(Photo)
        .where(
            Photo.event_id == event.id,
            Photo.withheld_at.is_not(None),
            Photo.withheld_reason.is_(None),
        )
        .values(withheld_at=None, withheld_by_id=None),
        synchronize="fetch",
    )
    logger.info("event %s: %d reviewed photos released", event.id, released)
    return released


def awaiting_review(photo: Photo) -> bool:
    """Withheld by the event's hold, not by a decision with a reason."""
    return photo.withheld_at is not None and photo.withheld_reason is None
