"""The time-driven chores: unpaid orders expire, a day's marked previews are cleared."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deliveries.models import Delivery
from app.housekeeping import tidy
from app.orders.models import Order, OrderStatus
from app.web.context import runtime
from tests.orders.conftest import Signer, add, checkout_fields
from tests.support.gallery import Gallery
from tests.support.web import Clock


def _preview_copy_kept(app: Flask, session: Session, delivery: Delivery) -> bool:
    photo = delivery.photo
    assert photo.wrapped_key is not None
    return runtime(app).blobs.exists(photo.id, f"mpreview_{delivery.mark:08x}", photo.wrapped_key)


def test_tidy_expires_unpaid_orders_and_clears_old_marked_previews(
    app: Flask, shop: Gallery, session: Session, login_as: Signer, clock: Clock
) -> None:
    client = login_as(shop.guardian)
    photo = shop.photos[0]
    assert client.get(f"/gallery/photos/{photo.id}/preview.jpg").status_code == 200
    add(client, photo.id)
    client.post("/checkout", data=checkout_fields(client))
    delivery = session.scalars(select(Delivery)).one()
    assert _preview_copy_kept(app, session, delivery)

    report = tidy(runtime(app))  # today: nothing is due
    assert (report.expired_orders, report.preview_deliveries_cleared) == (0, 0)
    assert _preview_copy_kept(app, session, delivery)

    clock.advance(days=1)  # the next day: yesterday's copy goes, the order still waits
    report = tidy(runtime(app))
    assert (report.expired_orders, report.preview_deliveries_cleared) == (0, 1)
    # The copy is gone; the delivery row stays, it is the evidence.
    session.expire_all()
    kept = session.get(Delivery, delivery.id)
    assert kept is not None
    assert not _preview_copy_kept(app, session, kept)

    clock.advance(days=runtime(app).settings.invoice_days - 1, seconds=1)
    assert tidy(runtime(app)).expired_orders == 1
    session.expire_all()
    assert session.scalars(select(Order)).one().status is OrderStatus.EXPIRED
