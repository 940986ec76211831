"""Turning a pending upload into a ready photo, or a failed one with a reason.

Per photo: decrypt the original, decode it with :func:`app.imaging.open_upload`
(validation, orientation, sRGB, no metadata), store a clean master, a preview and a
thumbnail (all encrypted), compute the perceptual hash and the photo's row of the leak
investigation's feature index (``app.photos.features``), and only then flip the row to
READY in one conditional UPDATE (the feature row is written in the same transaction).
Families see a photo only when it is READY (and released), so a crash at any point leaves
nothing half-made on show: the row stays PENDING (retry once it is stale) or becomes FAILED
with a reason (retry at once). The original is never touched, so a retry always starts from
the upload itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import changed_rows
from app.imaging import RejectedImage, derivatives, encode_jpeg, open_upload, perceptual_hash
from app.imaging.keypoints import Features, index_features
from app.photos.blobs import DERIVATIVE_KINDS, MASTER, ORIGINAL, PREVIEW, THUMBNAIL
from app.photos.features import feature_row
from app.photos.limits import UploadLimits
from app.photos.models import Event, Photo, PhotoStatus
from app.storage import (
    BlobIntegrityError,
    BlobNotFoundError,
    EncryptedBlobs,
    StorageError,
    UnknownKeyError,
)

logger = logging.getLogger(__name__)

MASTER_QUALITY: Final = 92
# Previews and thumbnails are for looking, never for printing; smaller files load faster.
PREVIEW_QUALITY: Final = 85
THUMBNAIL_QUALITY: Final = 85
#: A photo pending this long has lost its job (a worker died, Redis was down): retry it.
STALE_AFTER: Final = dt.timedelta(minutes=15)

UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class Rendered:
    """Everything the job makes from one original (plain bytes, not yet encrypted)."""

    master: bytes
    preview: bytes
    thumbnail: bytes
    width: int
    height: int
    phash: str
    dhash: str
    #: The photo's feature-index points; None if they could not be made (the first search
    #: that sees the photo makes them then).
    features: Features | None = None

    @property
    def master_sha256(self) -> str:
        return hashlib.sha256(self.master).hexdigest()


@dataclass(frozen=True)
class Failure:
    code: str
    reason: str


def render_photo(original: bytes, limits: UploadLimits) -> Rendered:
    """Decode, clean and shrink one upload; RejectedImage if the pixels are unusable."""
    image = open_upload(original, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
    copies = derivatives(image)
    fingerprint = perceptual_hash(image)
    try:
        found: Features | None = index_features(copies.preview, image)
    except Exception:
        # The index is the investigation's, not the photo's: a photo is never failed for it.
        logger.exception("the feature index of an upload could not be made")
        found = None
    return Rendered(
        master=encode_jpeg(image, MASTER_QUALITY),
        preview=encode_jpeg(copies.preview, PREVIEW_QUALITY),
        thumbnail=encode_jpeg(copies.thumbnail, THUMBNAIL_QUALITY),
        width=image.width,
        height=image.height,
        phash=fingerprint.phash,
        dhash=fingerprint.dhash,
        features=found,
    )


def _store(blobs: EncryptedBlobs, photo_id: int, wrapped_key: bytes, rendered: Rendered) -> None:
    key = blobs.open_key(wrapped_key)
    for kind, data in (
        (MASTER, rendered.master),
        (PREVIEW, rendered.preview),
        (THUMBNAIL, rendered.thumbnail),
    ):
        blobs.put(photo_id, kind, data, key)
    # Each put is atomic; checking afterwards also catches a store that loses writes.
    missing = [kind for kind in DERIVATIVE_KINDS if not blobs.exists(photo_id, kind, key)]
    if missing:
        raise StorageError(f"blobs {missing} of photo {photo_id} were not stored")


def _claim(session: Session, photo_id: int) -> tuple[int, bytes | None] | None:
    photo = session.get(Photo, photo_id)
    if photo is None or photo.status is not PhotoStatus.PENDING:
        return None
    return photo.id, bytes(photo.wrapped_key) if photo.wrapped_key is not None else None


def _finish(session: Session, photo_id: int, **values: object) -> bool:
    # Conditional on PENDING: a photo purged or handled by a second job meanwhile is left
    # as it is. One statement, so the row is either all-ready (or failed) or untouched.
    changed = changed_rows(
        session,
        update(Photo)
        .where(Photo.id == photo_id, Photo.status == PhotoStatus.PENDING)
        .values(**values),
    )
    session.flush()
    return changed == 1


def _mark_ready(session: Session, photo_id: int, rendered: Rendered, now: dt.datetime) -> bool:
    ready = _finish(
        session,
        photo_id,
        status=PhotoStatus.READY,
        width=rendered.width,
        height=rendered.height,
        master_sha256=rendered.master_sha256,
        phash=rendered.phash,
        dhash=rendered.dhash,
        processed_at=now,
        failure_code=None,
        failure_reason=None,
    )
    if ready and rendered.features is not None:
        # A photo processed again replaces its row.
        session.merge(feature_row(photo_id, rendered.features, now=now))
        session.flush()
    return ready


def _mark_failed(session: Session, photo_id: int, failure: Failure, now: dt.datetime) -> bool:
    return _finish(
        session,
        photo_id,
        status=PhotoStatus.FAILED,
        failure_code=failure.code[:32],
        failure_reason=failure.reason[:500],
        processed_at=now,
    )


def _render_and_store(
    blobs: EncryptedBlobs, photo_id: int, wrapped_key: bytes, limits: UploadLimits
) -> Failure | Rendered:
    try:
        original = blobs.get(photo_id, ORIGINAL, wrapped_key)
    except (BlobIntegrityError, UnknownKeyError):
        logger.error("original of photo %s failed its integrity check", photo_id)
        return Failure(
            "storage", "The stored upload failed its integrity check; please upload it again."
        )
    except BlobNotFoundError:
        logger.error("original of photo %s is missing from the blob store", photo_id)
        return Failure("storage", "The stored upload is missing; please upload it again.")
    try:
        rendered = render_photo(original, limits)
    except RejectedImage as rejected:
        return Failure(rejected.code, str(rejected))
    try:
        _store(blobs, photo_id, wrapped_key, rendered)
    except (StorageError, OSError):
        logger.exception("storing the derivatives of photo %s failed", photo_id)
        return Failure("storage", "The processed photo could not be stored; please retry.")
    return rendered


def process_photo(
    unit: UnitOfWork,
    blobs: EncryptedBlobs,
    photo_id: int,
    limits: UploadLimits,
    clock: Callable[[], dt.datetime],
) -> PhotoStatus | None:
    """Process one pending photo; returns its new status, None if there was nothing to do.

    ``unit`` opens a unit of work (a session committed on success). The job uses a new one
    for claiming and for finishing, so no transaction stays open while pixels are
    crunched; the demo seed passes its own session twice.
    """
    with unit() as session:
        claimed = _claim(session, photo_id)
    if claimed is None:
        logger.info("photo %s is not pending; nothing to process", photo_id)
        return None
    photo_id, wrapped_key = claimed
    try:
        if wrapped_key is None:
            # A row from before originals were stored: there is nothing to process.
            outcome: Failure | Rendered = Failure(
                "storage", "The stored upload is missing; please upload it again."
            )
        else:
            outcome = _render_and_store(blobs, photo_id, wrapped_key, limits)
    except Exception:
        # Whatever went wrong, the photographer gets a failed photo they can retry rather
        # than one pending for ever.
        logger.exception("processing photo %s failed unexpectedly", photo_id)
        outcome = Failure("internal", "Processing failed on our side; please retry.")
    with unit() as session:
        if isinstance(outcome, Failure):
            if _mark_failed(session, photo_id, outcome, clock()):
                logger.info("photo %s failed: %s (%s)", photo_id, outcome.code, outcome.reason)
            return PhotoStatus.FAILED
        if not _mark_ready(session, photo_id, outcome, clock()):
            logger.info("photo %s changed while processing; result dropped", photo_id)
            return None
    logger.info("photo %s ready (%sx%s)", photo_id, outcome.width, outcome.height)
    return PhotoStatus.READY


def is_stale(photo: Photo, now: dt.datetime) -> bool:
    """A pending photo whose job has evidently been lost."""
    queued = photo.queued_at or photo.created_at
    return photo.status is PhotoStatus.PENDING and now - queued >= STALE_AFTER


def can_be_retried(photo: Photo, now: dt.datetime) -> bool:
    """Failed, or pending so long that its job must have been lost."""
    return photo.status is PhotoStatus.FAILED or is_stale(photo, now)


def retryable_photos(session: Session, now: dt.datetime, event: Event | None = None) -> list[Photo]:
    """Failed and stale pending photos, oldest first (for the command line)."""
    query = select(Photo).where(Photo.status.in_((PhotoStatus.FAILED, PhotoStatus.PENDING)))
    if event is not None:
        query = query.where(Photo.event_id == event.id)
    photos = session.scalars(query.order_by(Photo.id))
    return [photo for photo in photos if can_be_retried(photo, now)]
