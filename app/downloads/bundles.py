"""ZIP bundles: a family's whole order or event, or a print lab's export, marked file by
file in the background.

Asking makes the bundle and its items (nothing is marked yet); the job (the queue in
production, inline in the embedded default) makes one delivery and one verified marked
file per item, counting progress as it goes, and keeps the ZIP encrypted. Fetching it
(once, by the session that asked, within an hour) spends one download of each family
entitlement in the same transaction that marks it fetched — all or nothing — and then
deletes the stored ZIP. A job that fails spends nothing; an unfetched ZIP is deleted when
it expires (:func:`forget_expired_bundles`, run by the reaper and on every request for
a bundle).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffUser
from app.db import changed_rows
from app.deliveries.models import Delivery, DeliveryKind
from app.deliveries.services import MarkNotVerified, Recipient, marked_master, new_delivery
from app.downloads.models import Bundle, BundleItem, BundleKind, BundleStatus
from app.downloads.services import DownloadRefused, LinkGone, check_downloadable
from app.errors import Forbidden, Invalid, NotFound
from app.i18n import gettext as _
from app.orders.exports import csv_text, print_file_name, print_list_rows
from app.orders.models import Entitlement, Order, OrderItem, OrderStatus, Product
from app.photos.models import Event, Photo
from app.storage import EncryptedBlobs

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

#: A ready ZIP is kept this long for its one fetch.
BUNDLE_LIFETIME: Final = dt.timedelta(hours=1)
#: The most files one ZIP holds (it is built in memory before it is encrypted).
MAX_BUNDLE_FILES: Final = 60
#: The blob kind of a bundle's ZIP (the blob's id is ``bundle-<id>``).
ZIP_KIND: Final = "zip"


T = TypeVar("T")


def _row(session: Session, model: type[T], row_id: int | None) -> T:
    """A row the job's own records name; its absence is a bug, not bad input."""
    row = session.get(model, row_id) if row_id is not None else None
    if row is None:
        raise LookupError(f"{model.__name__} {row_id} is gone")
    return row


def bundle_blob_id(bundle: Bundle) -> str:
    return f"bundle-{bundle.id}"


def _usable(
    session: Session, entitlements: Sequence[Entitlement], now: dt.datetime
) -> list[Entitlement]:
    usable = []
    for entitlement in entitlements:
        try:
            check_downloadable(session, entitlement, now)
        except DownloadRefused:
            continue
        usable.append(entitlement)
    return usable


def start_family_bundle(
    session: Session,
    *,
    kind: BundleKind,
    family_id: int,
    school_id: int,
    recipient: Recipient,
    now: dt.datetime,
    order_id: int | None = None,
    event_id: int | None = None,
) -> Bundle:
    """A queued ZIP of every photo of the family's order (or event) with a download left
    (flushed); :class:`DownloadRefused` when there is none, or too many for one ZIP."""
    if recipient.guardian is None or recipient.session_id is None:
        raise Forbidden()
    query = (
        select(Entitlement)
        .join(OrderItem, OrderItem.id == Entitlement.order_item_id)
        .join(Photo, Photo.id == Entitlement.photo_id)
        .where(Entitlement.family_id == family_id)
        .order_by(Entitlement.photo_id, Entitlement.id)
    )
    if kind is BundleKind.ORDER:
        query = query.where(OrderItem.order_id == order_id)
    elif kind is BundleKind.EVENT:
        query = query.where(Photo.event_id == event_id)
    else:
        raise ValueError(kind)
    chosen: dict[int, Entitlement] = {}
    for entitlement in _usable(session, session.scalars(query).all(), now):
        chosen.setdefault(entitlement.photo_id, entitlement)  # one file per photo
    if not chosen:
        raise DownloadRefused(_("There is no photo with a download left to put in a ZIP."))
    if len(chosen) > MAX_BUNDLE_FILES:
        raise DownloadRefused(
            _(
                "A ZIP holds at most %(count)d photos. Download the photos one by one, "
                "or by event.",
                count=MAX_BUNDLE_FILES,
            )
        )
    bundle = Bundle(
        kind=kind,
        school_id=school_id,
        order_id=order_id,
        event_id=event_id,
        family_id=family_id,
        guardian_id=recipient.guardian.id,
        session_id=recipient.session_id,
        device_hash=recipient.device_hash,
        ip=recipient.ip[:64],
        user_agent=recipient.user_agent[:512],
        total=len(chosen),
        created_at=now,
        items=[
            BundleItem(photo_id=entitlement.photo_id, entitlement_id=entitlement.id)
            for entitlement in chosen.values()
        ],
    )
    session.add(bundle)
    session.flush()
    return bundle


def start_print_export(
    session: Session, event: Event, staff: StaffUser, recipient: Recipient, *, now: dt.datetime
) -> Bundle:
    """A queued print lab export of the event's paid print lines (flushed): each file
    marked with a delivery of kind print, and the order list as CSV."""
    if recipient.session_id is None:
        raise Forbidden()
    lines = session.scalars(
        select(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            OrderItem.event_id == event.id,
            OrderItem.product != Product.DIGITAL,
            Order.status == OrderStatus.PAID,
        )
        .order_by(OrderItem.order_id, OrderItem.id)
    ).all()
    if not lines:
        raise Invalid(_("No paid prints to export for this event."))
    if len(lines) > MAX_BUNDLE_FILES:
        raise Invalid(_("An export holds at most %(count)d print lines.", count=MAX_BUNDLE_FILES))
    bundle = Bundle(
        kind=BundleKind.PRINT,
        school_id=event.school_id,
        event_id=event.id,
        staff_user_id=staff.id,
        session_id=recipient.session_id,
        device_hash=recipient.device_hash,
        ip=recipient.ip[:64],
        user_agent=recipient.user_agent[:512],
        total=len(lines),
        created_at=now,
        items=[BundleItem(photo_id=line.photo_id, order_item_id=line.id) for line in lines],
    )
    session.add(bundle)
    session.flush()
    return bundle


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("_")[:60] or "photo"


def _file_name(number: int, item: BundleItem, photo: Photo) -> str:
    if item.order_item_id is not None and item.order_item is not None:
        line = item.order_item
        return print_file_name(number, line.order.number, photo.id, line.product.value)
    return f"{number:03d}_{photo.id}.jpg"


def build_bundle(runtime: Runtime, bundle_id: int) -> str:
    """The job: mark every file of a queued bundle and keep the ZIP encrypted. Returns the
    bundle's final status."""
    database = runtime.database
    with database.session_scope() as session:
        bundle = session.get(Bundle, bundle_id)
        if bundle is None or bundle.status is not BundleStatus.QUEUED:
            return bundle.status.value if bundle is not None else "missing"
        bundle.status = BundleStatus.RUNNING
    try:
        archive = _build(runtime, bundle_id)
    except (MarkNotVerified, DownloadRefused, OSError, ValueError, LookupError) as error:
        _fail(runtime, bundle_id, error)
        return BundleStatus.FAILED.value
    except Exception as error:
        logger.exception("bundle %s failed", bundle_id)
        _fail(runtime, bundle_id, error)
        return BundleStatus.FAILED.value
    with database.session_scope() as session:
        bundle = _row(session, Bundle, bundle_id)
        key = runtime.blobs.new_data_key()
        runtime.blobs.put(bundle_blob_id(bundle), ZIP_KIND, archive, key)
        now = runtime.now()
        bundle.wrapped_key = key.wrapped
        bundle.byte_size = len(archive)
        bundle.sha256 = hashlib.sha256(archive).hexdigest()
        bundle.status = BundleStatus.READY
        bundle.ready_at = now
        bundle.expires_at = now + BUNDLE_LIFETIME
    return BundleStatus.READY.value


def _build(runtime: Runtime, bundle_id: int) -> bytes:
    database = runtime.database
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        with database.session_scope(write=False) as session:
            bundle = _row(session, Bundle, bundle_id)
            item_ids = [item.id for item in bundle.items]
            if bundle.kind is BundleKind.PRINT:
                event = _row(session, Event, bundle.event_id)
                archive.writestr("prints.csv", csv_text(print_list_rows(session, event)))
        for number, item_id in enumerate(item_ids, start=1):
            with database.session_scope() as session:
                item = _row(session, BundleItem, item_id)
                bundle = item.bundle
                photo = _row(session, Photo, item.photo_id)
                now = runtime.now()
                if item.entitlement_id is not None:
                    entitlement = _row(session, Entitlement, item.entitlement_id)
                    photo = check_downloadable(session, entitlement, now)
                guardian = session.get(Guardian, bundle.guardian_id) if bundle.guardian_id else None
                delivery = new_delivery(
                    session,
                    DeliveryKind.PRINT
                    if bundle.kind is BundleKind.PRINT
                    else DeliveryKind.DOWNLOAD,
                    photo,
                    Recipient(
                        guardian=guardian,
                        family_id=bundle.family_id,
                        session_id=bundle.session_id,
                        device_hash=bundle.device_hash,
                        ip=bundle.ip,
                        user_agent=bundle.user_agent,
                    ),
                    key_id=runtime.watermarks.current_id,
                    now=now,
                    staff_user_id=bundle.staff_user_id,
                    entitlement_id=item.entitlement_id,
                    bundle_id=bundle.id,
                )
                item.delivery_id = delivery.id
                name = _file_name(number, item, photo)
                marked = marked_master(runtime.blobs, runtime.watermarks, photo, delivery)
                delivery.sha256 = marked.sha256
                delivery.byte_size = len(marked.data)
                archive.writestr(name, marked.data)
                session.execute(
                    update(Bundle).where(Bundle.id == bundle.id).values(done=Bundle.done + 1)
                )
    return out.getvalue()


def _fail(runtime: Runtime, bundle_id: int, error: Exception) -> None:
    if isinstance(error, MarkNotVerified):
        message = _("A photo's mark could not be checked; nothing was used up.")
        logger.error("ALERT bundle %s: %s", bundle_id, error)
    elif isinstance(error, DownloadRefused):
        message = str(error.message or "")
    else:
        message = _("The ZIP could not be made; nothing was used up. Try again later.")
    with runtime.database.session_scope() as session:
        session.execute(
            update(Bundle)
            .where(Bundle.id == bundle_id)
            .values(status=BundleStatus.FAILED, failure=message[:300])
        )


@dataclass(frozen=True)
class Fetched:
    bundle: Bundle
    data: bytes


def visible_bundle(
    session: Session, bundle_id: int, *, family_id: int | None, staff: StaffUser | None
) -> Bundle:
    """The bundle if it is this family's (or, for staff, made by them), else 404."""
    bundle = session.get(Bundle, bundle_id)
    if bundle is None:
        raise NotFound()
    if family_id is not None and bundle.family_id == family_id:
        return bundle
    if staff is not None and bundle.staff_user_id == staff.id:
        return bundle
    raise NotFound()


def fetch_bundle(
    session: Session, blobs: EncryptedBlobs, bundle: Bundle, *, session_id: int, now: dt.datetime
) -> bytes:
    """The ZIP, once, for the session that asked; spends one download of each family
    entitlement in it, all or nothing (flushed; the caller commits, then calls
    :func:`drop_bundle_file`)."""
    if bundle.status is BundleStatus.FETCHED:
        raise LinkGone(_("This ZIP was already downloaded. Ask for a new one."))
    if bundle.status is not BundleStatus.READY or bundle.wrapped_key is None:
        raise LinkGone(_("This ZIP is not ready."))
    if bundle.expires_at is None or now >= bundle.expires_at:
        raise LinkGone(_("This ZIP has expired. Ask for a new one."))
    if bundle.session_id != session_id:
        raise Forbidden(_("This ZIP belongs to another sign-in. Ask for it again here."))
    data = blobs.get(bundle_blob_id(bundle), ZIP_KIND, bundle.wrapped_key)
    with session.begin_nested() as savepoint:
        took = changed_rows(
            session,
            update(Bundle)
            .where(Bundle.id == bundle.id, Bundle.status == BundleStatus.READY)
            .values(status=BundleStatus.FETCHED, fetched_at=now),
        )
        if took != 1:
            savepoint.rollback()
            raise LinkGone(_("This ZIP was already downloaded. Ask for a new one."))
        for item in bundle.items:
            if item.entitlement_id is None:
                continue
            spent = changed_rows(
                session,
                update(Entitlement)
                .where(
                    Entitlement.id == item.entitlement_id,
                    Entitlement.downloads_used < Entitlement.downloads_allowed,
                    Entitlement.revoked_at.is_(None),
                    Entitlement.expires_at > now,
                )
                .values(downloads_used=Entitlement.downloads_used + 1),
            )
            if spent != 1:
                savepoint.rollback()
                raise DownloadRefused(
                    _(
                        "A photo in this ZIP has no downloads left any more; nothing was "
                        "used up. Ask for a new ZIP."
                    )
                )
        session.execute(
            update(Delivery)
            .where(Delivery.bundle_id == bundle.id)
            .values(sent_at=now)
            .execution_options(synchronize_session=False)
        )
    session.expire(bundle)
    return data


def drop_bundle_file(session: Session, blobs: EncryptedBlobs, bundle: Bundle) -> None:
    """Delete a fetched or expired bundle's stored ZIP (flushed)."""
    if bundle.wrapped_key is not None:
        blobs.delete(bundle_blob_id(bundle), ZIP_KIND, bundle.wrapped_key)
        bundle.wrapped_key = None


def forget_expired_bundles(session: Session, blobs: EncryptedBlobs, *, now: dt.datetime) -> int:
    """Delete the ZIPs of bundles fetched, or ready and past their hour; returns how many."""
    stale = session.scalars(
        select(Bundle).where(
            Bundle.wrapped_key.is_not(None),
            (Bundle.status == BundleStatus.FETCHED)
            | ((Bundle.status == BundleStatus.READY) & (Bundle.expires_at <= now)),
        )
    ).all()
    for bundle in stale:
        drop_bundle_file(session, blobs, bundle)
        if bundle.status is BundleStatus.READY:
            bundle.status = BundleStatus.EXPIRED
    session.flush()
    return len(stale)
