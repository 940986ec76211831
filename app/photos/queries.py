"""Questions about photos that studio, gallery, downloads and investigation share.

"Visible to a family" is defined once, here, as a SQL condition; pages, counts, downloads
and previews build on it rather than restating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from app.photos.models import Event, Photo, PhotoStatus


def released() -> ColumnElement[bool]:
    """Photos families may see in an event they may see: every derivative made (READY)
    and not withheld — by an administrator or by an event held for review."""
    return and_(Photo.status == PhotoStatus.READY, Photo.withheld_at.is_(None))


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
