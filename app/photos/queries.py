"""Questions about photos that studio, gallery, orders, downloads and investigation share.

"Visible to a family" is defined once, here: an event whose audience includes a classroom
where one of the family's children is enrolled, inside its sale window; and in it the photos
that are ready and not withheld. Pages, counts, carts, downloads and previews build on these
conditions rather than restating them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.orm import Session

from app.photos.models import Event, Photo, PhotoStatus, event_classrooms
from app.schools.models import Enrolment, Student


def released() -> ColumnElement[bool]:
    """Photos families may see in an event they may see: every derivative made (READY)
    and not withheld — by an administrator or by an event held for review."""
    return and_(Photo.status == PhotoStatus.READY, Photo.withheld_at.is_(None))


def family_classroom_ids(family_id: int) -> Select[int]:
    """The classrooms where a child of the family is enrolled (a subquery)."""
    return (
        select(Enrolment.classroom_id)
        .join(Student, Student.id == Enrolment.student_id)
        .where(Student.family_id == family_id)
    )


def for_family(family_id: int, school_id: int) -> ColumnElement[bool]:
    """Events of the family's school whose audience includes one of its classrooms."""
    return and_(
        Event.school_id == school_id,
        exists(
            select(event_classrooms.c.event_id).where(
                event_classrooms.c.event_id == Event.id,
                event_classrooms.c.classroom_id.in_(family_classroom_ids(family_id)),
            )
        ),
    )


def on_sale(now: dt.datetime) -> ColumnElement[bool]:
    """Events inside their sale window at ``now``."""
    return and_(Event.sale_starts_at <= now, Event.sale_ends_at > now)


def family_events(
    session: Session, family_id: int, school_id: int, now: dt.datetime
) -> tuple[list[Event], list[Event]]:
    """The family's events on sale (soonest to close first) and those whose sale has
    closed (newest first); events not yet on sale are not shown at all."""
    events = session.scalars(
        select(Event)
        .where(for_family(family_id, school_id), Event.sale_starts_at <= now)
        .order_by(Event.sale_ends_at, Event.id)
    ).all()
    open_now = [event for event in events if event.is_on_sale(now)]
    closed = sorted(
        (event for event in events if not event.is_on_sale(now)),
        key=lambda event: (event.event_date, event.id),
        reverse=True,
    )
    return open_now, closed


def visible_event(
    session: Session, family_id: int, school_id: int, event_id: int, now: dt.datetime
) -> Event | None:
    """The event if the family may browse it now, else None."""
    return session.scalar(
        select(Event).where(Event.id == event_id, for_family(family_id, school_id), on_sale(now))
    )


def visible_photo(
    session: Session, family_id: int, school_id: int, photo_id: int, now: dt.datetime
) -> Photo | None:
    """The photo if the family may see it now (its event on sale for them, the photo
    released), else None."""
    return session.scalar(
        select(Photo)
        .join(Event, Event.id == Photo.event_id)
        .where(Photo.id == photo_id, released(), for_family(family_id, school_id), on_sale(now))
    )


def visible_photos(session: Session, event: Event) -> list[Photo]:
    """The released photos of ``event``, oldest first."""
    return list(
        session.scalars(
            select(Photo).where(Photo.event_id == event.id, released()).order_by(Photo.id)
        )
    )


def status_counts(session: Session, event_ids: Iterable[int]) -> dict[tuple[int, PhotoStatus], int]:
    """How many photos each event has in each status (one query)."""
    ids = list(event_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Photo.event_id, Photo.status, func.count())
        .where(Photo.event_id.in_(ids))
        .group_by(Photo.event_id, Photo.status)
    )
    return {(event_id, status): int(count) for event_id, status, count in rows}


@dataclass(frozen=True)
class PhotoPage:
    """One page of an event's photos, newest first."""

    photos: Sequence[Photo]
    total: int
    page: int
    pages: int


def photo_page(
    session: Session,
    event: Event,
    *,
    page: int,
    per_page: int,
    status: PhotoStatus | None = None,
) -> PhotoPage:
    """Page ``page`` (1-based, clamped to the last) of the event's photos, newest first."""
    query = select(Photo).where(Photo.event_id == event.id)
    if status is not None:
        query = query.where(Photo.status == status)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    photos = session.scalars(
        query.order_by(Photo.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return PhotoPage(photos=photos, total=total, page=page, pages=pages)


def photos_after(
    session: Session,
    event: Event,
    *,
    after: int,
    limit: int,
    status: PhotoStatus | None = None,
) -> Sequence[Photo]:
    """Up to ``limit`` photos of the event with ids above ``after`` (keyset paging)."""
    query = select(Photo).where(Photo.event_id == event.id, Photo.id > after)
    if status is not None:
        query = query.where(Photo.status == status)
    return session.scalars(query.order_by(Photo.id).limit(limit)).all()
