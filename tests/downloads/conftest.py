"""A family that has paid for downloads of a few photos."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.policies import SYSTEM
from app.db import utcnow
from app.jobs import JobQueue
from app.orders.models import CartItem, Entitlement, Order, PaymentMethod, Product
from app.orders.services import place_order, set_prices, settle_paid
from app.watermark import Extraction
from app.web.context import runtime
from tests.orders.conftest import PRICES, csrf
from tests.support.gallery import Gallery, make_gallery, ready_photos

#: Masters this size keep the tests quick and are still read blind with margin.
SIZE = (1200, 900)


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared test app with jobs (the ZIPs) run inline, as in the embedded default; the
    queued path is the studio's, tested with a real worker in tests/studio/test_worker.py."""
    runtime(app).jobs = JobQueue(None)
    return app


@dataclass
class Paid:
    gallery: Gallery
    order: Order
    entitlements: list[Entitlement]


@pytest.fixture
def paid(app: Flask, session: Session) -> Paid:
    gallery = make_gallery(app, session, photos=0)
    gallery.photos = ready_photos(app, session, gallery.event, 3, size=SIZE)
    set_prices(
        session,
        SYSTEM,
        gallery.event,
        dict(PRICES),
        downloads_allowed=3,
        download_days=30,
        now=utcnow(),
    )
    for photo in gallery.photos:
        session.add(
            CartItem(family_id=gallery.family.id, photo_id=photo.id, product=Product.DIGITAL)
        )
    session.add(
        CartItem(
            family_id=gallery.family.id, photo_id=gallery.photos[0].id, product=Product.PRINT_L
        )
    )
    session.flush()
    order, _created = place_order(
        session,
        gallery.family,
        gallery.guardian,
        method=PaymentMethod.INVOICE,
        idempotency_key="downloads-test-order",
        confirmed_total_yen=None,
        pay_within=dt.timedelta(days=14),
        now=runtime(app).now(),
    )
    assert settle_paid(session, order, via="cash", now=runtime(app).now(), actor=SYSTEM)
    session.commit()
    entitlements = list(
        session.scalars(
            select(Entitlement)
            .where(Entitlement.family_id == gallery.family.id)
            .order_by(Entitlement.photo_id)
        )
    )
    return Paid(gallery, order, entitlements)


def ask(client: FlaskClient, entitlement_id: int) -> str:
    """Press "Download": the link the server sends the browser to."""
    response = client.post(
        f"/downloads/entitlements/{entitlement_id}",
        data={"csrf_token": csrf(client, "/orders/downloads")},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return str(response.headers["Location"])


def read_mark(app: Flask, data: bytes) -> Extraction:
    """A blind read under every kept key, as an investigation does."""
    with Image.open(io.BytesIO(data)) as image:
        return runtime(app).watermarks.keyring.extract(image.convert("RGB"))
