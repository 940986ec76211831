"""A school with real photos on sale, a guardian who looked at one and downloaded it, and
the copies a leak investigation meets: screenshots, crops, re-encodings."""

from __future__ import annotations

import io
import secrets

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.auth.policies import SYSTEM
from app.db import utcnow
from app.deliveries.models import Delivery, DeliveryKind
from app.photos.blobs import MASTER, read_derivative
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.processing import process_photo
from app.studio.services import IncomingFile, upload_photos
from app.web.context import runtime
from tests.support.gallery import Gallery, make_gallery
from tests.support.photos import photo_path
from tests.support.web import csrf_token

#: Real photographs of the event (corner-rich content, as school photos are).
EVENT_PHOTOS = ("ori_Landscape_0.jpg", "mei_Nokia Lumia 800.jpg", "mei_Issue 308.jpg")
UNRELATED = "kodak_kodim15.png"


def real_photo(name: str) -> bytes:
    return photo_path(name).read_bytes()


def real_photos(app: Flask, session: Session, event: Event, names: tuple[str, ...]) -> list[Photo]:
    """Real photos through the real upload and processing path, all READY."""
    held = runtime(app)
    outcomes = upload_photos(
        session,
        held.blobs,
        SYSTEM,
        event,
        [IncomingFile(name, real_photo(name)) for name in names],
        album_id=None,
        limits=held.limits,
        now=utcnow(),
    )
    session.commit()
    photos = [outcome.photo for outcome in outcomes if outcome.photo is not None]
    for photo in photos:
        process_photo(held.database.session_scope, held.blobs, photo.id, held.limits, utcnow)
    for photo in photos:
        session.refresh(photo)
        assert photo.status is PhotoStatus.READY
    session.commit()
    return photos


def event_gallery(app: Flask, session: Session) -> Gallery:
    gallery = make_gallery(app, session, photos=0)
    gallery.photos = real_photos(app, session, gallery.event, EVENT_PHOTOS)
    return gallery


def download_delivery(app: Flask, session: Session, gallery: Gallery, photo: Photo) -> bytes:
    """A full-resolution download of ``photo`` by the gallery's guardian: the delivery row
    and the marked master as it would be sent (JPEG q92)."""
    held = runtime(app)
    delivery = Delivery(
        mark=secrets.randbelow(2**32),
        kind=DeliveryKind.DOWNLOAD,
        photo_id=photo.id,
        guardian_id=gallery.guardian.id,
        family_id=gallery.family.id,
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (iPhone)",
        browser="Mobile Safari",
        os="iOS",
        key_id=held.watermarks.current_id,
        created_at=utcnow(),
    )
    session.add(delivery)
    session.commit()
    master = read_derivative(held.blobs, photo, MASTER)
    return held.watermarks.current().embed_jpeg(master, delivery.mark)


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def resized(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def phone_screenshot(image: Image.Image, width: int = 1170) -> bytes:
    """The image as a phone shows it full width, with the status bar and the browser's
    toolbar above and below, saved as a PNG screenshot."""
    shown = resized(image, width) if image.width >= image.height else image
    shown = shown.resize(
        (width, round(shown.height * width / shown.width)), Image.Resampling.BICUBIC
    )
    screen = Image.new("RGB", (width, shown.height + 420), (250, 250, 250))
    screen.paste(shown, (0, 220))
    return png(screen)


def investigate(client: FlaskClient, data: bytes, filename: str = "suspect.jpg") -> TestResponse:
    """Upload a suspect through the console (CSRF token from its page)."""
    token = csrf_token(client, "/investigate/")
    return client.post(
        "/investigate/",
        data={"csrf_token": token, "suspect": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
