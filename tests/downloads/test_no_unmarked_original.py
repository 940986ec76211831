"""No route serves a full-resolution image without a verifiable mark, and no stored blob
can be read without the key-encryption key.

Every GET route of the URL map is requested by a guardian, a photographer, an administrator,
an operator and an anonymous visitor, with ids that name real objects; so are the download
and ZIP flows. Any image in any answer that is larger than the preview size must carry a
mark that names a delivery. Then every file under the blob directory must be ciphertext.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.auth.policies import SYSTEM
from app.db import utcnow
from app.deliveries.models import Delivery
from app.imaging.derivatives import PREVIEW_LONG_SIDE
from app.orders.models import CartItem, Entitlement, PaymentMethod, Product
from app.orders.services import place_order, set_prices, settle_paid
from app.web.context import runtime
from tests.downloads.conftest import ask, read_mark
from tests.factories import make_staff
from tests.orders.conftest import PRICES, csrf
from tests.support.gallery import make_gallery, ready_photos
from tests.support.web import sign_in

FULL = (2400, 1800)
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8", b"\x00\x00\x00")
ZIP_SIGNATURE = b"PK\x03\x04"


def _images_in(body: bytes) -> list[bytes]:
    """Every image a response carries: itself, or the files of a ZIP."""
    if body.startswith(ZIP_SIGNATURE):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return [archive.read(name) for name in archive.namelist() if not name.endswith(".csv")]
    if body.startswith(IMAGE_SIGNATURES):
        return [body]
    return []


def test_no_response_carries_an_unmarked_full_resolution_image(
    app: Flask, session: Session
) -> None:
    gallery = make_gallery(app, session, photos=0)
    [photo] = ready_photos(app, session, gallery.event, 1, size=FULL)
    photographer = make_staff(session, StaffRole.PHOTOGRAPHER)
    gallery.event.photographers.append(photographer)
    operator = make_staff(session, StaffRole.OPERATOR)
    set_prices(
        session,
        SYSTEM,
        gallery.event,
        dict(PRICES),
        downloads_allowed=20,
        download_days=30,
        now=utcnow(),
    )
    session.add(CartItem(family_id=gallery.family.id, photo_id=photo.id, product=Product.DIGITAL))
    session.add(CartItem(family_id=gallery.family.id, photo_id=photo.id, product=Product.PRINT_A4))
    session.flush()
    order, _created = place_order(
        session,
        gallery.family,
        gallery.guardian,
        method=PaymentMethod.INVOICE,
        idempotency_key="no-unmarked-walk",
        confirmed_total_yen=None,
        pay_within=dt.timedelta(days=14),
        now=utcnow(),
    )
    settle_paid(session, order, via="cash", now=utcnow(), actor=SYSTEM)
    session.commit()
    entitlement = session.scalars(select(Entitlement)).one()
    values = {
        "school_id": gallery.school.id,
        "family_id": gallery.family.id,
        "guardian_id": gallery.guardian.id,
        "event_id": gallery.event.id,
        "photo_id": photo.id,
        "order_id": order.id,
        "entitlement_id": entitlement.id,
        "item_id": 1,
        "bundle_id": 1,
        "invitation_id": 1,
        "session_id": 1,
        "token_id": 1,
        "user_id": operator.id,
        "name": 1,
        "token": "x" * 43,
        "provider": "local",
        "alert_id": 1,
        "case_id": 1,
        "key": "k" * 32,
    }
    accounts = [None, gallery.guardian, photographer, gallery.admin, operator]
    bodies: list[tuple[str, bytes]] = []
    for account in accounts:
        client: FlaskClient = app.test_client()
        if account is not None:
            sign_in(app, client, session, account)
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or set()) or rule.endpoint == "static":
                continue
            for kind in ("thumbnail", "preview"):
                built = rule.build({**values, "kind": kind}, append_unknown=False)
                assert built is not None, rule.rule
                response = client.get(built[1])
                bodies.append((f"{account!r} GET {built[1]}", response.data))
                if "kind" not in rule.arguments:
                    break
    # The paths that do serve full resolution: a download, the order's ZIP, the lab's ZIP.
    family = app.test_client()
    sign_in(app, family, session, gallery.guardian)
    link = ask(family, entitlement.id)
    bodies.append(("download", family.get(link).data))
    page = family.post(
        f"/downloads/orders/{order.id}/zip",
        data={"csrf_token": csrf(family, "/orders/downloads")},
    ).headers["Location"]
    bodies.append(("order zip", family.get(family.get(f"{page}.json").get_json()["url"]).data))
    staff = app.test_client()
    assert gallery.admin is not None
    sign_in(app, staff, session, gallery.admin)
    page = staff.post(
        f"/studio/events/{gallery.event.id}/prints/export",
        data={"csrf_token": csrf(staff, "/staff/signin")},
    ).headers["Location"]
    bodies.append(("print zip", staff.get(staff.get(f"{page}.json").get_json()["url"]).data))
    # Static files are images the site itself draws (icons), never photos.
    static = Path(app.static_folder or "")
    bodies.extend((str(path), path.read_bytes()) for path in static.rglob("*") if path.is_file())

    marks = set(session.scalars(select(Delivery.mark)))
    full_size = 0
    for where, body in bodies:
        for data in _images_in(body):
            with Image.open(io.BytesIO(data)) as image:
                side = max(image.size)
            if side <= PREVIEW_LONG_SIDE:
                continue
            full_size += 1
            found = read_mark(app, data)
            assert found.payload in marks, f"unmarked full-resolution image from {where}"
    assert full_size == 3  # the download and the two ZIPs, nothing else


def test_no_blob_on_disk_is_readable_without_the_key_encryption_key(
    app: Flask, session: Session
) -> None:
    gallery = make_gallery(app, session, photos=0)
    photos = ready_photos(app, session, gallery.event, 2, size=(1800, 1200))
    client = app.test_client()
    sign_in(app, client, session, gallery.guardian)
    for photo in photos:  # marked previews are kept for the day: they too are blobs
        assert client.get(f"/gallery/photos/{photo.id}/preview.jpg").status_code == 200
    files = [p for p in runtime(app).settings.blob_dir.rglob("*") if p.is_file()]
    assert len(files) >= 8  # originals, masters, previews, thumbnails
    for path in files:
        head = path.read_bytes()[:16]
        assert not head.startswith((*IMAGE_SIGNATURES, ZIP_SIGNATURE)), path
        try:
            Image.open(path).verify()
        except Exception:  # noqa: S112 (anything but an image is what is expected)
            continue
        raise AssertionError(f"{path} opens as an image")
