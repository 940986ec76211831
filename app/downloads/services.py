"""Downloads: asking for a photo, fetching it once, and what the family has downloaded.

The promise kept here: a file that leaves at full resolution carries a mark naming exactly
one delivery, verified before the first byte is sent, and a download is spent only when
that file is about to be sent. The order of work when a link is used:

1. check the link (this session's, not used, not expired) and the entitlement (downloads
   left, not expired or revoked, the photo still released and the family still in the
   event's audience) — nothing written;
2. make the marked file and verify it (seconds of CPU, no transaction open);
3. in one short transaction: spend the link (``used_at`` set only if still unset) and one
   download (``downloads_used + 1`` only while below the allowance and in force), record
   the bytes' SHA-256, size and the time. Two requests racing for one link or for the
   last download both make a file, and exactly one of them passes step 3; the other's
   file is dropped unsent.

A failure in step 2 spends nothing. Services raise :mod:`app.errors` errors whose message
is shown to the family as is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.orm import Session

from app.auth.models import Guardian
from app.db import changed_rows
from app.deliveries.models import Delivery, DeliveryKind
from app.deliveries.services import (
    MarkedFile,
    MarkNotVerified,
    Recipient,
    marked_master,
    new_delivery,
)
from app.downloads.models import DownloadLink
from app.downloads.suspensions import suspension_in_force
from app.errors import AppError, Forbidden, NotFound
from app.i18n import gettext as _
from app.keys import WatermarkKeys
from app.orders.models import Entitlement
from app.photos.models import Event, Photo, event_classrooms
from app.photos.queries import family_classroom_ids, released
from app.storage import EncryptedBlobs

logger = logging.getLogger(__name__)

#: A link works this long after it was made (the browser follows it at once).
LINK_LIFETIME: Final = dt.timedelta(minutes=5)


class LinkGone(AppError):
    """The link is unknown, used or expired: ask again from the downloads page."""

    status_code = 410


class DownloadRefused(Forbidden):
    """The entitlement does not allow another download (its message says why)."""


class DownloadFailed(AppError):
    """The marked file could not be made or checked; nothing was spent."""

    status_code = 503


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _in_audience(family_id: int) -> ColumnElement[bool]:
    """The photo's event still has one of the family's classes in its audience."""
    return exists(
        select(event_classrooms.c.event_id).where(
            event_classrooms.c.event_id == Photo.event_id,
            event_classrooms.c.classroom_id.in_(family_classroom_ids(family_id)),
        )
    )


def family_entitlement(session: Session, family_id: int, entitlement_id: int) -> Entitlement:
    """The family's entitlement of this id, else :class:`NotFound` (another family's is
    never confirmed)."""
    entitlement = session.scalar(
        select(Entitlement).where(
            Entitlement.id == entitlement_id, Entitlement.family_id == family_id
        )
    )
    if entitlement is None:
        raise NotFound()
    return entitlement


def check_downloadable(session: Session, entitlement: Entitlement, now: dt.datetime) -> Photo:
    """The photo, if the entitlement allows one more download now; else a refusal that says
    why (used up, expired, refunded, or the photo withdrawn)."""
    if entitlement.revoked_at is not None:
        raise DownloadRefused(_("This purchase was refunded or cancelled: it has no downloads."))
    if suspension_in_force(session, entitlement.family_id) is not None:
        raise DownloadRefused(
            _(
                "The school has paused this family's downloads while it looks into a concern."
                " Nothing you bought is lost: the time is given back when downloads resume."
                " Please contact the school."
            )
        )
    if now >= entitlement.expires_at:
        raise DownloadRefused(_("The download period of this photo has ended."))
    if entitlement.downloads_left <= 0:
        raise DownloadRefused(_("This photo has no downloads left."))
    photo = session.scalar(
        select(Photo)
        .join(Event, Event.id == Photo.event_id)
        .where(
            Photo.id == entitlement.photo_id,
            released(),
            _in_audience(entitlement.family_id),
        )
    )
    if photo is None:
        raise DownloadRefused(
            _("This photo is not available for download just now. The school can tell you why.")
        )
    return photo


@dataclass(frozen=True)
class NewLink:
    link: DownloadLink
    token: str


def request_download(
    session: Session,
    entitlement: Entitlement,
    recipient: Recipient,
    *,
    key_id: str,
    now: dt.datetime,
) -> NewLink:
    """A delivery of kind download and a link to it, for the session that asked (flushed).
    Nothing is spent: the link may expire unused."""
    if recipient.session_id is None or recipient.guardian is None:
        raise Forbidden()
    photo = check_downloadable(session, entitlement, now)
    delivery = new_delivery(
        session,
        DeliveryKind.DOWNLOAD,
        photo,
        recipient,
        key_id=key_id,
        now=now,
        entitlement_id=entitlement.id,
    )
    token = secrets.token_urlsafe(32)
    link = DownloadLink(
        token_hash=token_hash(token),
        delivery_id=delivery.id,
        entitlement_id=entitlement.id,
        session_id=recipient.session_id,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    return NewLink(link=link, token=token)


@dataclass(frozen=True)
class ReadyDownload:
    """A link found usable: its delivery, entitlement and photo."""

    link: DownloadLink
    delivery: Delivery
    entitlement: Entitlement
    photo: Photo


def open_link(
    session: Session, token: str, *, session_id: int, family_id: int, now: dt.datetime
) -> ReadyDownload:
    """Check a link and what it pays with, writing nothing."""
    if not 20 <= len(token) <= 100:
        raise LinkGone(_("This download link is not valid. Ask for the photo again."))
    link = session.scalar(select(DownloadLink).where(DownloadLink.token_hash == token_hash(token)))
    if link is None:
        raise LinkGone(_("This download link is not valid. Ask for the photo again."))
    if link.session_id != session_id:
        raise Forbidden(
            _("This download link belongs to another sign-in. Ask for the photo again here.")
        )
    if link.used_at is not None:
        raise LinkGone(_("This download link was already used. Ask for the photo again."))
    if now >= link.expires_at:
        raise LinkGone(_("This download link has expired. Ask for the photo again."))
    entitlement = session.get(Entitlement, link.entitlement_id)
    if entitlement is None or entitlement.family_id != family_id:
        raise LinkGone(_("This download link is not valid. Ask for the photo again."))
    photo = check_downloadable(session, entitlement, now)
    return ReadyDownload(link=link, delivery=link.delivery, entitlement=entitlement, photo=photo)


def make_file(blobs: EncryptedBlobs, watermarks: WatermarkKeys, ready: ReadyDownload) -> MarkedFile:
    """The marked, verified file of a download (no database writes). A file that fails its
    check raises :class:`MarkNotVerified` (the caller refuses and raises the alert); any
    other failure :class:`DownloadFailed`."""
    try:
        return marked_master(blobs, watermarks, ready.photo, ready.delivery)
    except MarkNotVerified:
        raise
    except Exception as error:
        logger.exception("download %s could not be made", ready.delivery.id)
        raise DownloadFailed(
            _("The photo could not be prepared just now. Nothing was used up; try again later.")
        ) from error


def spend(session: Session, ready: ReadyDownload, marked: MarkedFile, now: dt.datetime) -> bool:
    """Spend the link and one download and record the bytes (flushed), or nothing at all:
    False when another request used the link or the last download first."""
    with session.begin_nested() as savepoint:
        took_link = changed_rows(
            session,
            update(DownloadLink)
            .where(
                DownloadLink.id == ready.link.id,
                DownloadLink.used_at.is_(None),
                DownloadLink.expires_at > now,
            )
            .values(used_at=now),
        )
        took_download = (
            changed_rows(
                session,
                update(Entitlement)
                .where(
                    Entitlement.id == ready.entitlement.id,
                    Entitlement.downloads_used < Entitlement.downloads_allowed,
                    Entitlement.revoked_at.is_(None),
                    Entitlement.expires_at > now,
                )
                .values(downloads_used=Entitlement.downloads_used + 1),
            )
            if took_link == 1
            else 0
        )
        if took_link != 1 or took_download != 1:
            savepoint.rollback()
            return False
        session.execute(
            update(Delivery)
            .where(Delivery.id == ready.delivery.id)
            .values(sha256=marked.sha256, byte_size=len(marked.data), sent_at=now)
            .execution_options(synchronize_session=False)
        )
    session.expire(ready.link)
    session.expire(ready.entitlement)
    session.expire(ready.delivery)
    return True


@dataclass(frozen=True)
class HistoryRow:
    """One file that left: who, what, when, from which device and where."""

    delivery: Delivery
    guardian: Guardian | None
    photo: Photo
    event: Event


def download_history(session: Session, family_id: int, *, limit: int = 500) -> list[HistoryRow]:
    """Every full-resolution file the family received (downloads and ZIP files), newest
    first."""
    rows = session.execute(
        select(Delivery, Guardian, Photo, Event)
        .join(Photo, Photo.id == Delivery.photo_id)
        .join(Event, Event.id == Photo.event_id)
        .outerjoin(Guardian, Guardian.id == Delivery.guardian_id)
        .where(
            Delivery.family_id == family_id,
            Delivery.kind == DeliveryKind.DOWNLOAD,
            Delivery.sent_at.is_not(None),
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(limit)
    ).all()
    return [
        HistoryRow(delivery, guardian, photo, event) for delivery, guardian, photo, event in rows
    ]
