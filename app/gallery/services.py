"""Gallery queries other features build on."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.gallery.models import Event, Photo, PhotoStatus


def visible_photos(session: Session, event: Event) -> list[Photo]:
    """The photos families may see: every derivative made (READY) and not withheld.

    This is the one definition of "visible"; pages, downloads and counts build on it.
    """
    return list(
        session.scalars(
            select(Photo)
            .where(
                Photo.event_id == event.id,
                Photo.status == PhotoStatus.READY,
                Photo.withheld_at.is_(None),
            )
            .order_by(Photo.id)
        )
    )
