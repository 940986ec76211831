"""Taking an upload in: cheap checks at once, the encrypted original stored, a photo pending.

What happens in the request is deliberately cheap: the size limit, the format by content
and the pixel count from the header.  Obviously bad files are refused there with nothing
stored.  Everything that needs the pixels (decoding, orientation, colour, stripping,
derivatives) runs later as a job; see :mod:`app.studio.services.processing`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.errors import AppError, Forbidden, Invalid
from app.gallery.models import Album, Event, Photo, PhotoStatus
from app.imaging import RejectedImage, describe_content, sniff_format
from app.storage import ORIGINAL, EncryptedBlobs, StorageError
from app.studio.i18n import _
from app.studio.policies import can_upload_to_event
from app.studio.storage import UploadLimits

logger = logging.getLogger(__name__)

MAX_FILENAME: Final = 255
FALLBACK_FILENAME: Final = "upload"
#: How many hashes one "which of these do you have" question may ask about.
MAX_LOOKUP: Final = 1000
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class StorageUnavailable(AppError):
    """The blob store refused the upload; nothing was kept, the client may try again."""

    status_code = 503


class UploadStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # original stored encrypted, photo pending
    DUPLICATE = "duplicate"  # the event already has this exact file
    REJECTED = "rejected"  # refused at once, nothing stored


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one uploaded file."""

    status: UploadStatus
    filename: str
    sha256: str
    photo: Photo | None = None
    #: A RejectedImage code ("format", "too_large", ...) or "duplicate".
    code: str | None = None
    #: The imaging library's own wording, for logs and API clients.
    detail: str = ""
    #: What a refused file looks like ("SVG", "HTML"), when known.
    found: str | None = None


@dataclass(frozen=True)
class Probe:
    """What the header of an acceptable upload says."""

    format: str
    width: int
    height: int


def clean_filename(name: str | None) -> str:
    """The base name of an uploaded file, safe to show and store; never used as a path.

    Browsers and clients may send ``../../etc/passwd``, ``C:\\photos\\a.jpg``, control
    characters or nothing at all; the photographer only needs the last part to recognise
    the file.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    base = base.lstrip(".").strip()
    return base[:MAX_FILENAME] or FALLBACK_FILENAME


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.0f}"


def probe_upload(data: bytes, limits: UploadLimits) -> Probe:
    """Size, format by content and pixel count from the header; RejectedImage if unfit.

    Reads no pixel data, so it is safe to run in the request for any input.
    """
    if not data:
        raise RejectedImage("empty", "The file is empty. Please choose the photo again.")
    if len(data) > limits.max_bytes:
        raise RejectedImage(
            "too_large",
            f"The file is too large: {len(data) / 1e6:.1f} MB; "
            f"the limit is {limits.max_bytes / 1e6:.0f} MB.",
        )
    fmt = sniff_format(data)
    if fmt is None:
        found = describe_content(data)
        detail = f" (found {found})" if found else ""
        raise RejectedImage("format", f"This file is not a photo we accept{detail}.")
    try:
        # Opening reads the header only; Pillow's own bomb check may fire here already.
        with Image.open(io.BytesIO(data), formats=(fmt,)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        raise RejectedImage(
            "too_many_pixels",
            f"The photo has too many pixels; the limit is "
            f"{_megapixels(limits.max_pixels)} megapixels.",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        logger.info("unreadable %s header: %s: %s", fmt, type(exc).__name__, exc)
        raise RejectedImage(
            "corrupt", "The photo could not be read: the file is damaged."
        ) from None
    if width <= 0 or height <= 0:
        raise RejectedImage("corrupt", "The photo could not be read: the file is damaged.")
    if width * height > limits.max_pixels:
        raise RejectedImage(
            "too_many_pixels",
            f"The photo is too large: {_megapixels(width * height)} megapixels; "
            f"the limit is {_megapixels(limits.max_pixels)}.",
        )
    return Probe(format=fmt, width=width, height=height)


def _existing(session: Session, event: Event, sha256: str) -> Photo | None:
    return session.scalar(
        select(Photo).where(Photo.event_id == event.id, Photo.original_sha256 == sha256)
    )


def accept_upload(
    session: Session,
    blobs: EncryptedBlobs,
    uploader: StaffUser | None,
    event: Event,
    *,
    filename: str | None,
    data: bytes,
    limits: UploadLimits,
    now: dt.datetime,
    album: Album | None = None,
) -> UploadOutcome:
    """Check one file and, if acceptable, store its original encrypted as a pending photo.

    ``uploader`` None means the platform itself (the demo seed). The photo row is flushed,
    not committed; the caller commits and then queues processing. Rejected files and
    duplicates leave nothing behind.
    """
    if uploader is not None and not can_upload_to_event(uploader, event):
        raise Forbidden()
    if album is not None and album.event_id != event.id:
        raise Invalid(_("That album belongs to another event."))
    name = clean_filename(filename)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        probe = probe_upload(data, limits)
    except RejectedImage as rejected:
        # File names can name children; the log gets the content hash instead.
        logger.info("upload %s to event %s rejected: %s", sha256[:16], event.id, rejected.code)
        found = describe_content(data) if rejected.code == "format" else None
        return UploadOutcome(
            UploadStatus.REJECTED,
            name,
            sha256,
            code=rejected.code,
            detail=str(rejected),
            found=found,
        )
    key = blobs.new_data_key()
    photo = Photo(
        event_id=event.id,
        status=PhotoStatus.PENDING,
        width=probe.width,
        height=probe.height,
        original_sha256=sha256,
        byte_size=len(data),
        wrapped_key=key.wrapped,
        album_id=album.id if album is not None else None,
        uploaded_by_id=uploader.id if uploader is not None else None,
        original_filename=name,
        queued_at=now,
        created_at=now,
    )
    if event.hold_new_uploads:
        # Held for the school's review; withheld_reason stays empty to tell it apart from
        # a photo an administrator withheld on purpose.
        photo.withheld_at = now
    try:
        # Insert first and let the unique (event, sha256) find duplicates: a transaction
        # that starts by writing waits its turn on SQLite, where one that read first would
        # be refused outright while another upload is being written. The savepoint also
        # leaves no row behind when storing fails. The blob is written before the caller
        # commits: if that commit fails, the blob is orphaned but unreadable, its key
        # never stored.
        with session.begin_nested():
            session.add(photo)
            session.flush()
            blobs.put(photo.id, ORIGINAL, data, key)
    except IntegrityError:
        winner = _existing(session, event, sha256)
        return UploadOutcome(UploadStatus.DUPLICATE, name, sha256, photo=winner, code="duplicate")
    except (StorageError, OSError) as exc:
        logger.error("storing the original of an upload to event %s failed: %s", event.id, exc)
        raise StorageUnavailable(
            _("The photo could not be stored just now. Please try again.")
        ) from None
    logger.info("photo %s accepted for event %s (%s bytes)", photo.id, event.id, len(data))
    return UploadOutcome(UploadStatus.ACCEPTED, name, sha256, photo=photo)


def known_photos(session: Session, event: Event, hashes: Iterable[str]) -> dict[str, Photo]:
    """Which of these SHA-256s the event already has (for resumable bulk uploads)."""
    wanted = {h.strip().lower() for h in hashes}
    if len(wanted) > MAX_LOOKUP:
        raise Invalid(_("Ask about at most %(count)s files at once.", count=MAX_LOOKUP))
    if any(_SHA256.fullmatch(h) is None for h in wanted):
        raise Invalid(_("Each hash must be 64 hexadecimal characters (SHA-256)."))
    if not wanted:
        return {}
    photos = session.scalars(
        select(Photo).where(Photo.event_id == event.id, Photo.original_sha256.in_(wanted))
    )
    return {photo.original_sha256: photo for photo in photos}
