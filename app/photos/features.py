"""A photo's row of the leak investigation's crop-robust index (``photo_features``).

The processing job makes it next to the perceptual hash, from the pixels it already has
decoded, so a search never indexes a photo in its request. Photos processed before that (or
with an older :data:`~app.imaging.keypoints.FEATURE_SCHEME`) are indexed from their stored
preview and master: a search indexes those that have no row at all, and
``photogate studio reindex`` remakes the rest.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable

from PIL import Image
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.imaging.keypoints import FEATURE_SCHEME, Features, index_features
from app.photos.blobs import MASTER, PREVIEW, read_derivative
from app.photos.models import Event, Photo, PhotoFeatures, PhotoStatus
from app.storage import EncryptedBlobs

logger = logging.getLogger(__name__)


def feature_row(photo_id: int, found: Features, *, now: dt.datetime) -> PhotoFeatures:
    """The index row holding ``found`` (points in preview pixels) for the photo."""
    points, descriptors = found.to_bytes()
    return PhotoFeatures(
        photo_id=photo_id,
        width=found.width,
        height=found.height,
        count=len(found.descriptors),
        points=points,
        descriptors=descriptors,
        scheme=FEATURE_SCHEME,
        made_at=now,
    )


def _stored(blobs: EncryptedBlobs, photo: Photo, kind: str) -> Image.Image:
    with Image.open(io.BytesIO(read_derivative(blobs, photo, kind))) as opened:
        return opened.convert("RGB")


def index_stored_photo(blobs: EncryptedBlobs, photo: Photo, *, now: dt.datetime) -> PhotoFeatures:
    """The index row of a ready photo, from its stored preview and master (not added)."""
    found = index_features(_stored(blobs, photo, PREVIEW), _stored(blobs, photo, MASTER))
    return feature_row(photo.id, found, now=now)


def photos_to_index(
    session: Session, *, event: Event | None = None, everything: bool = False
) -> list[int]:
    """Ready photos without an index row of the current scheme (or every ready photo)."""
    query = (
        select(Photo.id)
        .outerjoin(PhotoFeatures, PhotoFeatures.photo_id == Photo.id)
        .where(Photo.status == PhotoStatus.READY)
    )
    if not everything:
        query = query.where(
            or_(PhotoFeatures.photo_id.is_(None), PhotoFeatures.scheme < FEATURE_SCHEME)
        )
    if event is not None:
        query = query.where(Photo.event_id == event.id)
    return list(session.scalars(query.order_by(Photo.id)))


def reindex(
    session: Session, blobs: EncryptedBlobs, photo_ids: Iterable[int], *, now: dt.datetime
) -> tuple[int, int]:
    """(Re)make the index rows of these photos (flushed); returns (made, failed)."""
    made = failed = 0
    for photo_id in photo_ids:
        photo = session.get(Photo, photo_id)
        if photo is None or photo.status is not PhotoStatus.READY:
            continue
        try:
            row = index_stored_photo(blobs, photo, now=now)
        except Exception:
            # A damaged or purged copy leaves that photo out of the index, not the others.
            logger.exception("photo %s could not be indexed", photo_id)
            failed += 1
            continue
        session.merge(row)
        made += 1
    session.flush()
    return made, failed
