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
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.policies import Actor, actor_id
from app.errors import Forbidden, Invalid, Unavailable
from app.i18n import gettext as _
from app.imaging import RejectedImage, probe
from app.numbers import parse_int
from app.photos.blobs import ORIGINAL
from app.photos.limits import UploadLimits
from app.photos.models import Album, Event, Photo, PhotoStatus
from app.storage import EncryptedBlobs, StorageError
from app.studio.policies import can_upload_to_event
from app.studio.services.albums import album_in_event

logger = logging.getLogger(__name__)

MAX_FILENAME: Final = 255
FALLBACK_FILENAME: Final = "upload"
#: How many hashes one "which of these do you have" question may ask about.
MAX_LOOKUP: Final = 1000
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class StorageUnavailable(Unavailable):
    """The blob store refused the upload; nothing was kept, the client may try again."""


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
    #: Why the file was refused (REJECTED only).
    rejection: RejectedImage | None = None

    @property
    def code(self) -> str | None:
        """A RejectedImage code ("format", "too_large", ...) or "duplicate"."""
        if self.rejection is not None:
            return self.rejection.code
        return "duplicate" if self.status is UploadStatus.DUPLICATE else None

    @property
    def detail(self) -> str:
        """The imaging library's own wording, for logs and API clients."""
        return self.rejection.message if self.rejection is not None else ""


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


def _existing(session: Session, event: Event, sha256: str) -> Photo | None:
    return session.scalar(
        select(Photo).where(Photo.event_id == event.id, Photo.original_sha256 == sha256)
    )


def _accept_upload(
    session: Session,
    blobs: EncryptedBlobs,
    uploader: Actor,
    event: Event,
    *,
    filename: str | None,
    data: bytes,
    limits: UploadLimits,
    now: dt.datetime,
    album: Album | None = None,
) -> UploadOutcome:
    """Check one file and, if acceptable, store its original encrypted as a pending photo.

    The photo row is flushed, not committed. Rejected files and duplicates leave nothing
    behind.
    """
    if album is not None and album.event_id != event.id:
        raise Invalid(_("That album belongs to another event."))
    name = clean_filename(filename)
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        header = probe(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
    except RejectedImage as rejected:
        # File names can name children; the log gets the content hash instead.
        logger.info("upload %s to event %s rejected: %s", sha256[:16], event.id, rejected.code)
        return UploadOutcome(UploadStatus.REJECTED, name, sha256, rejection=rejected)
    key = blobs.new_data_key()
    photo = Photo(
        event_id=event.id,
        status=PhotoStatus.PENDING,
        width=header.width,
        height=header.height,
        original_sha256=sha256,
        byte_size=len(data),
        wrapped_key=key.wrapped,
        album_id=album.id if album is not None else None,
        uploaded_by_id=actor_id(uploader),
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
        return UploadOutcome(UploadStatus.DUPLICATE, name, sha256, photo=winner)
    except (StorageError, OSError) as exc:
        logger.error("storing the original of an upload to event %s failed: %s", event.id, exc)
        raise StorageUnavailable(
            _("The photo could not be stored just now. Please try again.")
        ) from None
    logger.info("photo %s accepted for event %s (%s bytes)", photo.id, event.id, len(data))
    return UploadOutcome(UploadStatus.ACCEPTED, name, sha256, photo=photo)


@dataclass(frozen=True)
class IncomingFile:
    """One file of an upload request: its name as sent and at most the limit plus one byte."""

    filename: str | None
    data: bytes


def chosen_album(session: Session, event: Event, raw: str | None) -> Album | None:
    """The album named by a form or query value; Invalid unless it is the event's own."""
    if raw in (None, ""):
        return None
    album_id = parse_int(raw, minimum=1)
    album = album_in_event(session, event, album_id) if album_id is not None else None
    if album is None:
        raise Invalid(_("Choose one of the event's albums."))
    return album


def upload_photos(
    session: Session,
    blobs: EncryptedBlobs,
    uploader: Actor,
    event: Event,
    files: list[IncomingFile],
    *,
    album_id: str | None,
    limits: UploadLimits,
    now: dt.datetime,
) -> list[UploadOutcome]:
    """Accept the files of one request (flushed); the caller commits, then queues the
    accepted photos' processing.  One path for the studio page, its script and the API."""
    if not can_upload_to_event(uploader, event):
        raise Forbidden()
    if not files:
        raise Invalid(_("Choose at least one photo to upload."))
    album = chosen_album(session, event, album_id)
    return [
        _accept_upload(
            session,
            blobs,
            uploader,
            event,
            filename=incoming.filename,
            data=incoming.data,
            limits=limits,
            now=now,
            album=album,
        )
        for incoming in files
    ]


def accepted_ids(outcomes: Iterable[UploadOutcome]) -> list[int]:
    """The photos that were stored and now wait for processing."""
    return [o.photo.id for o in outcomes if o.status is UploadStatus.ACCEPTED and o.photo]


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
