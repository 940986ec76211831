"""Making deliveries: a random mark per copy, and the marked preview a guardian sees.

A preview delivery is made once per guardian, photo and day; its marked copy (the preview
with the visible viewer overlay and the invisible mark) is kept encrypted next to the photo
for that day, so looking again costs a decrypt, not a new mark.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import Guardian
from app.deliveries.models import Delivery, DeliveryKind
from app.keys import WatermarkKeys
from app.network import locate
from app.photos.blobs import MASTER, PREVIEW, read_derivative
from app.photos.models import Photo
from app.storage import EncryptedBlobs
from app.useragents import parse_agent

logger = logging.getLogger(__name__)

#: The watermark carries 32 bits: the mark is a random number below this.
MARK_SPACE: Final = 2**32
#: Marked previews are JPEG at this quality: what the eye needs, and the mark survives it.
MARKED_PREVIEW_QUALITY: Final = 88
_MARK_TRIES: Final = 8


@dataclass(frozen=True)
class Recipient:
    """Who a copy goes to, and from where they asked (all from the request)."""

    guardian: Guardian | None
    family_id: int | None
    session_id: int | None
    device_hash: str | None
    ip: str
    user_agent: str


def viewer_code(key: bytes, guardian_id: int) -> str:
    """A short code on a guardian's previews that the school can map back to them (and
    nobody else can forge or guess from the id): 6 letters of an HMAC."""
    digest = hmac.new(key, f"viewer:{guardian_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:6]


def _new(session: Session, delivery: Delivery) -> Delivery:
    """Insert with a fresh random mark; another on the (astronomically rare) collision."""
    for _ in range(_MARK_TRIES):
        delivery.mark = secrets.randbelow(MARK_SPACE)
        try:
            with session.begin_nested():
                session.add(delivery)
                session.flush()
        except IntegrityError:
            # The savepoint's rollback took the row back out of the session.
            taken = session.scalar(select(Delivery.id).where(Delivery.mark == delivery.mark))
            if taken is None:
                raise  # not the mark: the caller's constraint (one preview a day) fired
            continue
        return delivery
    raise RuntimeError("no free mark after several tries")


def _where(recipient: Recipient) -> dict[str, str]:
    agent = parse_agent(recipient.user_agent)
    place = locate(recipient.ip)
    return {
        "ip": recipient.ip[:64],
        "user_agent": recipient.user_agent[:512],
        "browser": agent.browser[:64],
        "os": agent.os[:64],
        "network": place.prefix[:64],
        "network_owner": place.owner[:64],
        "country": place.country[:2],
    }


def new_delivery(
    session: Session,
    kind: DeliveryKind,
    photo: Photo,
    recipient: Recipient,
    *,
    key_id: str,
    now: dt.datetime,
    staff_user_id: int | None = None,
    entitlement_id: int | None = None,
    bundle_id: int | None = None,
) -> Delivery:
    """A new delivery of ``photo`` with a fresh random mark (flushed): a download, a
    file of a ZIP, a print or a staff copy."""
    if kind is DeliveryKind.PREVIEW:
        raise ValueError("previews are made by preview_delivery (one a day)")
    delivery = Delivery(
        kind=kind,
        photo_id=photo.id,
        guardian_id=recipient.guardian.id if recipient.guardian is not None else None,
        staff_user_id=staff_user_id,
        family_id=recipient.family_id,
        session_id=recipient.session_id,
        device_hash=recipient.device_hash,
        key_id=key_id,
        entitlement_id=entitlement_id,
        bundle_id=bundle_id,
        created_at=now,
        **_where(recipient),
    )
    return _new(session, delivery)


def preview_delivery(
    session: Session,
    photo: Photo,
    recipient: Recipient,
    *,
    key_id: str,
    now: dt.datetime,
) -> Delivery:
    """Today's preview delivery of ``photo`` to the recipient, made on first sight
    (flushed). Two requests racing for it end with the same row."""
    if recipient.guardian is None:
        raise ValueError("a preview delivery needs a guardian")
    day = now.date()
    query = select(Delivery).where(
        Delivery.guardian_id == recipient.guardian.id,
        Delivery.photo_id == photo.id,
        Delivery.preview_day == day,
    )
    existing = session.scalar(query)
    if existing is not None:
        return existing
    delivery = Delivery(
        kind=DeliveryKind.PREVIEW,
        photo_id=photo.id,
        guardian_id=recipient.guardian.id,
        family_id=recipient.family_id,
        session_id=recipient.session_id,
        device_hash=recipient.device_hash,
        key_id=key_id,
        preview_day=day,
        created_at=now,
        **_where(recipient),
    )
    try:
        return _new(session, delivery)
    except IntegrityError:
        # Another request of the same guardian made today's delivery first.
        winner = session.scalar(query)
        if winner is None:
            raise
        return winner


def _cache_kind(delivery: Delivery) -> str:
    return f"mpreview_{delivery.mark:08x}"


def marked_preview(
    blobs: EncryptedBlobs,
    watermarks: WatermarkKeys,
    photo: Photo,
    delivery: Delivery,
    *,
    overlay: str,
    fallback: str,
) -> bytes:
    """The preview as this delivery's recipient sees it: the visible overlay, then the
    invisible mark of the delivery; made once and kept encrypted for the day."""
    if photo.wrapped_key is None:
        raise ValueError("photo has no key")
    kind = _cache_kind(delivery)
    key = blobs.open_key(photo.wrapped_key)
    if blobs.exists(photo.id, kind, key):
        return blobs.get(photo.id, kind, key)
    from app.imaging.overlay import apply_overlay  # OpenCV, loaded by the first mark

    pixels = decode_bgr(read_derivative(blobs, photo, PREVIEW))
    shown = apply_overlay(pixels, overlay, fallback=fallback)
    marked = watermarks.keyring[delivery.key_id].embed_array(
        shown, delivery.mark, bgr=True, in_place=True
    )
    data = encode_bgr(marked, MARKED_PREVIEW_QUALITY)
    blobs.put(photo.id, kind, data, key)
    return data


def decode_bgr(data: bytes) -> npt.NDArray[np.uint8]:
    """A stored derivative (a clean JPEG: no orientation to apply) as a BGR array."""
    import cv2  # loaded by the first mark, like the watermark engine (app.keys)

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("stored derivative could not be decoded")
    return np.asarray(bgr, np.uint8)


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """JPEG bytes as an RGB array, by libjpeg-turbo."""
    import cv2

    return np.asarray(cv2.cvtColor(decode_bgr(data), cv2.COLOR_BGR2RGB), np.uint8)


def encode_bgr(pixels: npt.NDArray[np.uint8], quality: int) -> bytes:
    """A BGR array as a baseline JPEG (4:2:0, no metadata), by libjpeg-turbo. Huffman
    tables are not optimised: it would save about 8 % of the bytes for twice the time."""
    import cv2

    options = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x221111]
    ok, encoded = cv2.imencode(".jpg", pixels, options)
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit array
        raise ValueError("marked preview could not be encoded")
    return bytes(encoded.tobytes())


def forget_marked_previews(session: Session, blobs: EncryptedBlobs, *, day: dt.date) -> int:
    """Delete the kept marked previews of ``day`` (the rows stay: they are the evidence);
    returns how many deliveries that day had."""
    rows = session.execute(
        select(Delivery, Photo)
        .join(Photo, Photo.id == Delivery.photo_id)
        .where(Delivery.kind == DeliveryKind.PREVIEW, Delivery.preview_day == day)
    ).all()
    for delivery, photo in rows:
        if photo.wrapped_key is not None:
            blobs.delete(photo.id, _cache_kind(delivery), photo.wrapped_key)
    return len(rows)


class MarkNotVerified(RuntimeError):
    """A freshly marked file did not carry its delivery's mark: it must not leave."""

    def __init__(self, delivery: Delivery, score: float, bit_errors: int) -> None:
        super().__init__(
            f"delivery {delivery.id}: mark not verified (score {score:.1f}, "
            f"{bit_errors} bit errors)"
        )
        self.score = score
        self.bit_errors = bit_errors


@dataclass(frozen=True)
class MarkedFile:
    """A full-resolution copy marked for one delivery and checked before it leaves."""

    data: bytes
    sha256: str
    score: float


#: Full-resolution copies are JPEG at this quality (the masters are stored at 95).
MARKED_MASTER_QUALITY: Final = 92


def marked_master(
    blobs: EncryptedBlobs,
    watermarks: WatermarkKeys,
    photo: Photo,
    delivery: Delivery,
) -> MarkedFile:
    """The photo's clean master, marked with the delivery's mark under the delivery's key,
    encoded, and **verified**: the encoded bytes are read back at the geometry just used
    (no search) and must carry exactly this mark, else :class:`MarkNotVerified`.
    """
    engine = watermarks.keyring[delivery.key_id]
    master = read_derivative(blobs, photo, MASTER)
    data = engine.embed_jpeg(master, delivery.mark, MARKED_MASTER_QUALITY)
    del master
    check = engine.verify(decode_rgb(data), delivery.mark)
    if not check.accepted:
        raise MarkNotVerified(delivery, check.score, check.bit_errors)
    return MarkedFile(data=data, sha256=hashlib.sha256(data).hexdigest(), score=check.score)
