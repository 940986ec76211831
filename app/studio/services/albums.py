"""Albums: named groups of photos within one event."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.policies import Actor, actor_id
from app.errors import Conflict, Forbidden, Invalid
from app.i18n import gettext as _
from app.photos.models import Album, Event
from app.studio.policies import can_create_album

MAX_ALBUM_NAME = 120


def normalise_album_name(name: str) -> str:
    """Collapse runs of whitespace; albums differ by what people read, not by spacing."""
    return " ".join(name.split())


def create_album(
    session: Session, actor: Actor, event: Event, name: str, classroom_id: int | None = None
) -> Album:
    """A new album in ``event`` (flushed), showing one of the event's classes if
    ``classroom_id`` is given; Conflict if the event has an album of that name."""
    if not can_create_album(actor, event):
        raise Forbidden()
    clean = normalise_album_name(name)
    if not clean or len(clean) > MAX_ALBUM_NAME:
        raise Invalid(_("An album name needs 1 to %(max)s characters.", max=MAX_ALBUM_NAME))
    if classroom_id is not None and classroom_id not in {c.id for c in event.audience}:
        raise Invalid(_("Choose one of the event's classes."))
    album = Album(
        event_id=event.id, name=clean, classroom_id=classroom_id, created_by_id=actor_id(actor)
    )
    try:
        with session.begin_nested():
            session.add(album)
            session.flush()
    except IntegrityError:
        raise Conflict(
            _("This event already has an album called “%(name)s”.", name=clean)
        ) from None
    session.expire(event, ["albums"])
    return album


def album_in_event(session: Session, event: Event, album_id: int) -> Album | None:
    """The album ``album_id`` if it belongs to ``event`` (never another event's)."""
    return session.scalar(select(Album).where(Album.id == album_id, Album.event_id == event.id))
