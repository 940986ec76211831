"""Retention: a photo's originals and derivatives are deleted N days after the sale closes.

The database is changed first, in the caller's transaction: the wrapped data key is
cleared, the photo marked PURGED and a deletion record written.  Only after the commit
are the blob files deleted (:func:`delete_blobs`).  If that deletion is interrupted, the
leftover files can no longer be decrypted by anyone, because their key is gone; the same
holds for copies in backups.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.policies import SYSTEM, Actor, actor_id
from app.errors import Forbidden, Invalid
from app.i18n import gettext as _
from app.photos.blobs import PHOTO_BLOB_KINDS
from app.photos.models import Event, Photo, PhotoStatus
from app.storage import BlobStore, EncryptedBlobs, StorageError, blob_name
from app.studio.models import PhotoDeletion
from app.studio.policies import can_moderate_photos

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS: Final = 90
MIN_RETENTION_DAYS: Final = 1
MAX_RETENTION_DAYS: Final = 3650
RETENTION_REASON: Final = "retention"


def retention_days_of(event: Event) -> int:
    """The event's own setting, or the platform default."""
    return event.retention_days if event.retention_days is not None else DEFAULT_RETENTION_DAYS


def purge_due_at(event: Event) -> dt.datetime:
    """When the event's photos are deleted."""
    return event.sale_ends_at + dt.timedelta(days=retention_days_of(event))


def set_retention(session: Session, actor: Actor, event: Event, days: int | None) -> None:
    """Set the event's retention in days (None = the platform default) (flushed)."""
    if not can_moderate_photos(actor, event):
        raise Forbidden()
    if days is not None and not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise Invalid(
            _(
                "Retention must be between %(low)s and %(high)s days.",
                low=MIN_RETENTION_DAYS,
                high=MAX_RETENTION_DAYS,
            )
        )
    event.retention_days = days
    session.flush()
    logger.info("event %s retention set to %s days", event.id, retention_days_of(event))


@dataclass
class PurgeResult:
    """What one purge pass changed; ``doomed`` are blob names to delete after the commit."""

    photos: int = 0
    blobs: int = 0
    #: event id -> photos purged in this pass
    events: dict[int, int] = field(default_factory=dict)
    doomed: list[str] = field(default_factory=list)


def due_events(session: Session, now: dt.datetime) -> list[Event]:
    """Events whose retention has run out and that still hold photo data."""
    # Retention is at least a day, so events still on sale are never candidates; events
    # already purged drop out, so the query does not grow with the years.
    candidates = session.scalars(
        select(Event)
        .where(
            Event.sale_ends_at <= now,
            select(Photo.id)
            .where(Photo.event_id == Event.id, Photo.status != PhotoStatus.PURGED)
            .exists(),
        )
        .order_by(Event.sale_ends_at, Event.id)
    )
    return [event for event in candidates if purge_due_at(event) <= now]


def _blob_names(blobs: EncryptedBlobs, photo: Photo) -> list[str] | None:
    if photo.wrapped_key is None:
        return []
    try:
        key = blobs.open_key(photo.wrapped_key)
    except StorageError:
        # The KEK that wrapped it is gone: the blobs are unreadable already.
        logger.warning("photo %s: data key cannot be unwrapped; blobs left unreadable", photo.id)
        return None
    return [blob_name(key, photo.id, kind) for kind in PHOTO_BLOB_KINDS]


def purge_expired_photos(
    session: Session,
    blobs: EncryptedBlobs,
    *,
    now: dt.datetime,
    limit: int = 200,
    deleted_by: Actor = SYSTEM,
) -> PurgeResult:
    """Purge up to ``limit`` photos whose retention has run out (flushed, not committed).

    Call again until it returns no photos; commit after each pass, then
    :func:`delete_blobs` with ``result.doomed``.
    """
    result = PurgeResult()
    for event in due_events(session, now):
        remaining = limit - result.photos
        if remaining <= 0:
            break
        photos = session.scalars(
            select(Photo)
            .where(Photo.event_id == event.id, Photo.status != PhotoStatus.PURGED)
            .order_by(Photo.id)
            .limit(remaining)
        ).all()
        days = retention_days_of(event)
        closed = event.sale_ends_at.date().isoformat()
        for photo in photos:
            names = _blob_names(blobs, photo)
            present = [name for name in names or [] if blobs.store.exists(name)]
            session.add(
                PhotoDeletion(
                    photo_id=photo.id,
                    event_id=event.id,
                    school_id=event.school_id,
                    deleted_at=now,
                    reason=RETENTION_REASON,
                    details=(
                        f"{days} days after the sale closed on {closed}"
                        + ("" if names is not None else "; data key unavailable")
                    ),
                    deleted_by_id=actor_id(deleted_by),
                    blobs_deleted=len(present),
                )
            )
            photo.status = PhotoStatus.PURGED
            photo.purged_at = now
            photo.wrapped_key = None
            photo.original_filename = None
            photo.failure_code = None
            photo.failure_reason = None
            result.doomed.extend(present)
            result.blobs += len(present)
        if photos:
            result.photos += len(photos)
            result.events[event.id] = len(photos)
            logger.info(
                "retention: event %s, %d photos purged (%d days after %s)",
                event.id,
                len(photos),
                days,
                closed,
            )
    session.flush()
    return result


def delete_blobs(store: BlobStore, names: list[str]) -> int:
    """Delete blob files after their keys are gone; returns how many were deleted."""
    deleted = 0
    for name in names:
        try:
            store.delete(name)
        except (StorageError, OSError):
            # The key is already gone, so the file is unreadable; log it for clean-up.
            logger.exception("retention: deleting blob %s failed", name)
            continue
        deleted += 1
    return deleted
