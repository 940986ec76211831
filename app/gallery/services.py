"""The family gallery's queries: a page of an event's photos, a photo's neighbours, covers.

Pages are keyset pages (photos after an id), so page 30 of an event with 2,000 photos costs
what page 1 does; every query here is one statement whatever the number of photos.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session, joinedload

from app.photos.models import Album, Event, Photo
from app.photos.queries import released


@dataclass(frozen=True)
class EventPage:
    """Photos of an event after a given id, and where the next page starts."""

    photos: Sequence[Photo]
    next_after: int | None
    #: How many photos the filters select in all (None when not asked for).
    total: int | None


def _filter(album_id: int | None, classroom_id: int | None) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = true()
    if album_id:
        condition = condition & (Photo.album_id == album_id)
    if classroom_id:
        condition = condition & Photo.album_id.in_(
            select(Album.id).where(Album.classroom_id == classroom_id)
        )
    return condition


def _released_in(event: Event, album_id: int | None, classroom_id: int | None) -> Select[Photo]:
    return select(Photo).where(
        Photo.event_id == event.id, released(), _filter(album_id, classroom_id)
    )


def event_page(
    session: Session,
    event: Event,
    *,
    after: int,
    limit: int,
    album_id: int | None = None,
    classroom_id: int | None = None,
    count: bool = True,
) -> EventPage:
    """Up to ``limit`` released photos of ``event`` with ids above ``after``, in order;
    with ``count``, how many there are in all (the scrolling JSON page does not ask)."""
    query = _released_in(event, album_id, classroom_id)
    photos = session.scalars(
        query.where(Photo.id > after).order_by(Photo.id).limit(limit + 1)
    ).all()
    total = (
        int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        if count
        else None
    )
    more = len(photos) > limit
    shown = photos[:limit]
    return EventPage(photos=shown, next_after=shown[-1].id if more and shown else None, total=total)


def neighbours(
    session: Session,
    event: Event,
    photo: Photo,
    *,
    album_id: int | None = None,
    classroom_id: int | None = None,
) -> tuple[int | None, int | None]:
    """The ids of the released photos before and after ``photo`` (same filters)."""
    query = _released_in(event, album_id, classroom_id).with_only_columns(Photo.id)
    previous = session.scalar(query.where(Photo.id < photo.id).order_by(Photo.id.desc()).limit(1))
    following = session.scalar(query.where(Photo.id > photo.id).order_by(Photo.id).limit(1))
    return previous, following


def cover_photos(session: Session, event_ids: Iterable[int]) -> dict[int, int]:
    """The first released photo of each event, by event id (one query)."""
    ids = list(event_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Photo.event_id, func.min(Photo.id))
        .where(Photo.event_id.in_(ids), released())
        .group_by(Photo.event_id)
    )
    return {row[0]: row[1] for row in rows}


def event_albums(session: Session, event: Event) -> Sequence[Album]:
    """The event's albums by name, with their classes (one query, whatever their number)."""
    return session.scalars(
        select(Album)
        .where(Album.event_id == event.id)
        .options(joinedload(Album.classroom))
        .order_by(Album.name, Album.id)
    ).all()
