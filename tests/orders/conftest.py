"""A school selling an event: prices, a family that may see it, and a few ready photos."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.policies import SYSTEM
from app.db import utcnow
from app.orders.models import Product
from app.orders.services import set_prices
from tests.support.gallery import Gallery, make_gallery, ready_photos

Signer = Callable[[Any], FlaskClient]

#: The demo's price list: a download and four print sizes, yen, tax included.
PRICES = {
    Product.DIGITAL: 1100,
    Product.PRINT_L: 330,
    Product.PRINT_2L: 550,
    Product.PRINT_6GIRI: 1650,
    Product.PRINT_A4: 2200,
}


@pytest.fixture
def shop(app: Flask, session: Session) -> Gallery:
    gallery = make_gallery(app, session, photos=0)
    gallery.photos = ready_photos(app, session, gallery.event, 3, size=(800, 600))
    set_prices(
        session,
        SYSTEM,
        gallery.event,
        dict(PRICES),
        downloads_allowed=3,
        download_days=30,
        now=utcnow(),
    )
    session.commit()
    return gallery


_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
_KEY = re.compile(r'name="idempotency_key" type="hidden" value="([^"]+)"')


def csrf(client: FlaskClient, path: str = "/cart") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def checkout_fields(client: FlaskClient) -> dict[str, str]:
    """The checkout form as the cart page renders it (key, total, token)."""
    html = client.get("/cart").get_data(as_text=True)
    token, key = _CSRF.search(html), _KEY.search(html)
    total = re.search(r'name="confirmed_total" type="hidden" value="(\d+)"', html)
    assert token, "the cart page has no CSRF token"
    assert key, "the cart page has no checkout form"
    assert total, "the checkout form has no total"
    return {
        "csrf_token": token.group(1),
        "idempotency_key": key.group(1),
        "confirmed_total": total.group(1),
        "method": "invoice",
    }


def add(client: FlaskClient, photo_id: int, product: str = "digital", **extra: Any) -> Any:
    return client.post(
        "/cart/items",
        data={"csrf_token": csrf(client), "photo_id": photo_id, "product": product, **extra},
    )
