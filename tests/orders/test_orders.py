"""The family's cart and checkout, their orders and receipts, and what a paid order grants."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.orders.models import CartItem, Entitlement, Order, OrderStatus, Product
from app.orders.receipts import tax_included
from app.orders.services import expire_unpaid
from app.photos.models import Photo, PhotoStatus
from app.web.context import runtime
from tests.factories import make_classroom, make_family, make_guardian, make_school, make_student
from tests.orders.conftest import PRICES, Signer, add, checkout_fields, csrf
from tests.support.gallery import Gallery
from tests.support.web import Clock


def _cart(session: Session, family_id: int) -> list[CartItem]:
    session.expire_all()
    return list(session.scalars(select(CartItem).where(CartItem.family_id == family_id)))


def _orders(session: Session, family_id: int) -> list[Order]:
    session.expire_all()
    return list(session.scalars(select(Order).where(Order.family_id == family_id)))


def test_a_photo_goes_into_the_cart_at_the_server_price(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    photo = shop.photos[0]
    response = add(client, photo.id, "print_2l", quantity=2, next=f"/events/{shop.event.id}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/events/{shop.event.id}")
    [item] = _cart(session, shop.family.id)
    assert (item.photo_id, item.product, item.quantity) == (photo.id, Product.PRINT_2L, 2)
    page = client.get("/cart").get_data(as_text=True)
    assert "¥1,100" in page  # 2 x 550


def test_price_family_and_total_in_the_form_are_ignored(
    app: Flask, shop: Gallery, login_as: Signer, session: Session
) -> None:
    other = make_family(session, shop.school)
    session.commit()
    client = login_as(shop.guardian)
    add(
        client,
        shop.photos[0].id,
        "digital",
        price=1,
        unit_price_yen=1,
        family_id=other.id,
        total_yen=1,
    )
    assert _cart(session, other.id) == []
    fields = checkout_fields(client)
    client.post(
        "/checkout", data=fields | {"total_yen": "1", "family_id": str(other.id), "price": "1"}
    )
    [order] = _orders(session, shop.family.id)
    assert order.total_yen == PRICES[Product.DIGITAL]
    assert order.items[0].unit_price_yen == PRICES[Product.DIGITAL]
    assert _orders(session, other.id) == []


def test_a_download_is_bought_once_and_prints_add_up(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    photo = shop.photos[0]
    for _ in range(2):
        add(client, photo.id, "digital", quantity=5)
        add(client, photo.id, "print_l", quantity=2)
    items = {item.product: item.quantity for item in _cart(session, shop.family.id)}
    assert items == {Product.DIGITAL: 1, Product.PRINT_L: 4}


def test_the_cart_is_shared_by_the_family_guardians(
    shop: Gallery, login_as: Signer, session: Session, app: Flask
) -> None:
    partner = make_guardian(session, shop.family)
    session.commit()
    add(login_as(shop.guardian), shop.photos[1].id)
    other_client = app.test_client()
    from tests.support.web import sign_in

    sign_in(app, other_client, session, partner)
    assert f"/gallery/photos/{shop.photos[1].id}/thumbnail.jpg" in other_client.get(
        "/cart"
    ).get_data(as_text=True)


def _outsider_class(session: Session, shop: Gallery) -> Any:
    family = make_family(session, shop.school)
    make_student(session, family, make_classroom(session, shop.school))
    return make_guardian(session, family)


def _outsider_school(session: Session, shop: Gallery) -> Any:
    school = make_school(session)
    family = make_family(session, school)
    make_student(session, family, make_classroom(session, school))
    return make_guardian(session, family)


@pytest.mark.parametrize("who", [_outsider_class, _outsider_school])
def test_another_familys_photo_cannot_go_into_a_cart(
    shop: Gallery, login_as: Signer, session: Session, who: Any
) -> None:
    outsider = who(session, shop)
    session.commit()
    client = login_as(outsider)
    assert add(client, shop.photos[0].id).status_code == 404
    assert _cart(session, outsider.family_id) == []
    refused = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "orders.refused")
    )
    assert refused == 1


def _withheld(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    photo.withheld_at = now
    photo.withheld_reason = "consent"


def _held(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    photo.withheld_at = now


def _not_ready(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    photo.status = PhotoStatus.PENDING


def _before_sale(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    shop.event.sale_starts_at = now + dt.timedelta(days=1)


def _after_sale(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    shop.event.sale_ends_at = now - dt.timedelta(minutes=1)


def _class_not_in_audience(photo: Photo, shop: Gallery, now: dt.datetime) -> None:
    shop.event.audience.clear()


CHANGES = [_withheld, _held, _not_ready, _before_sale, _after_sale, _class_not_in_audience]


@pytest.mark.parametrize("change", CHANGES)
def test_a_photo_the_family_may_not_see_is_404_for_the_cart(
    shop: Gallery, login_as: Signer, session: Session, change: Any
) -> None:
    photo = shop.photos[0]
    change(photo, shop, runtime_now(session))
    session.commit()
    assert add(login_as(shop.guardian), photo.id).status_code == 404
    assert _cart(session, shop.family.id) == []


@pytest.mark.parametrize("change", CHANGES)
def test_a_cart_line_that_went_off_sale_cannot_be_ordered(
    shop: Gallery, login_as: Signer, session: Session, change: Any
) -> None:
    client = login_as(shop.guardian)
    add(client, shop.photos[0].id)
    add(client, shop.photos[1].id)
    fields = checkout_fields(client)
    photo = session.get(Photo, shop.photos[0].id)
    assert photo is not None
    change(photo, shop, runtime_now(session))
    session.commit()
    assert "data-unavailable" in client.get("/cart").get_data(as_text=True)
    assert client.post("/checkout", data=fields).status_code == 409
    assert _orders(session, shop.family.id) == []
    assert len(_cart(session, shop.family.id)) == 2


def runtime_now(session: Session) -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_price_without_a_product_is_refused(
    shop: Gallery, login_as: Signer, session: Session, app: Flask
) -> None:
    from app.auth.policies import SYSTEM
    from app.orders.services import set_prices

    set_prices(
        session,
        SYSTEM,
        shop.event,
        {Product.DIGITAL: 1100},
        downloads_allowed=3,
        download_days=30,
        now=runtime(app).now(),
    )
    session.commit()
    response = add(login_as(shop.guardian), shop.photos[0].id, "print_a4")
    assert response.status_code == 400
    assert _cart(session, shop.family.id) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"product": "poster"},
        {"photo_id": "abc"},
        {"photo_id": "99999999999999"},
        {"quantity": "0"},
        {"quantity": "21"},
    ],
)
def test_bad_cart_input_is_a_400(
    shop: Gallery, login_as: Signer, session: Session, fields: dict[str, str]
) -> None:
    client = login_as(shop.guardian)
    data = {"csrf_token": csrf(client), "photo_id": shop.photos[0].id, "product": "print_l"}
    response = client.post("/cart/items", data=data | fields)
    assert response.status_code == 400
    assert _cart(session, shop.family.id) == []


def test_a_quantity_typed_in_full_width_digits_is_read(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    """A Japanese keyboard may type a full-width digit; WTForms reads it as meant."""
    add(login_as(shop.guardian), shop.photos[0].id, "print_l", quantity="２")  # noqa: RUF001
    assert [item.quantity for item in _cart(session, shop.family.id)] == [2]


def test_a_double_submitted_checkout_makes_one_order(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    add(client, shop.photos[0].id)
    add(client, shop.photos[1].id, "print_l", quantity=3)
    fields = checkout_fields(client)
    first = client.post("/checkout", data=fields)
    second = client.post("/checkout", data=fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    [order] = _orders(session, shop.family.id)
    assert order.total_yen == 1100 + 3 * 330
    assert order.tax_yen == tax_included(2090) == 190
    assert order.status is OrderStatus.PENDING
    assert _cart(session, shop.family.id) == []


def test_a_cart_that_changed_after_it_was_shown_asks_again(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    add(client, shop.photos[0].id)
    fields = checkout_fields(client)
    add(client, shop.photos[1].id)  # the other guardian, in another tab
    response = client.post("/checkout", data=fields)
    assert response.status_code == 409
    assert _orders(session, shop.family.id) == []


def test_an_empty_cart_cannot_be_ordered(shop: Gallery, login_as: Signer, session: Session) -> None:
    client = login_as(shop.guardian)
    data = {
        "csrf_token": csrf(client),
        "idempotency_key": "k" * 20,
        "confirmed_total": "0",
        "method": "invoice",
    }
    assert client.post("/checkout", data=data).status_code == 400
    assert _orders(session, shop.family.id) == []


def _ordered(client: Any, shop: Gallery, session: Session) -> Order:
    add(client, shop.photos[0].id)
    add(client, shop.photos[1].id, "print_l", quantity=2)
    client.post("/checkout", data=checkout_fields(client))
    [order] = _orders(session, shop.family.id)
    return order


@pytest.mark.parametrize("who", [_outsider_class, _outsider_school])
def test_another_familys_order_and_receipt_are_404(
    shop: Gallery, login_as: Signer, session: Session, app: Flask, who: Any
) -> None:
    order = _ordered(login_as(shop.guardian), shop, session)
    outsider = who(session, shop)
    session.commit()
    client = app.test_client()
    from tests.support.web import sign_in

    sign_in(app, client, session, outsider)
    for path in (f"/orders/{order.id}", f"/orders/{order.id}/receipt"):
        assert client.get(path).status_code == 404, path
    token = csrf(client)
    assert client.post(f"/orders/{order.id}/cancel", data={"csrf_token": token}).status_code == 404
    assert order.number not in client.get("/orders").get_data(as_text=True)
    session.expire_all()
    assert session.get(Order, order.id).status is OrderStatus.PENDING  # type: ignore[union-attr]


def test_another_familys_cart_line_is_404(
    shop: Gallery, login_as: Signer, session: Session, app: Flask
) -> None:
    add(login_as(shop.guardian), shop.photos[0].id, "print_l")
    [item] = _cart(session, shop.family.id)
    outsider = _outsider_class(session, shop)
    session.commit()
    client = app.test_client()
    from tests.support.web import sign_in

    sign_in(app, client, session, outsider)
    token = csrf(client)
    assert (
        client.post(f"/cart/items/{item.id}/remove", data={"csrf_token": token}).status_code == 404
    )
    response = client.post(
        f"/cart/items/{item.id}/quantity", data={"csrf_token": token, "quantity": "5"}
    )
    assert response.status_code == 404
    assert [(i.id, i.quantity) for i in _cart(session, shop.family.id)] == [(item.id, 1)]


def test_the_family_sees_its_order_and_invoice(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    order = _ordered(client, shop, session)
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert order.number in page
    invoice = client.get(f"/orders/{order.id}/receipt").get_data(as_text=True)
    assert "¥1,760" in invoice  # 1,100 + 2 x 330
    assert "¥160" in invoice  # 1,760 x 10 / 110


def test_the_family_may_cancel_a_pending_invoice_order_once(
    shop: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(shop.guardian)
    order = _ordered(client, shop, session)
    token = csrf(client)
    assert client.post(f"/orders/{order.id}/cancel", data={"csrf_token": token}).status_code == 303
    assert client.post(f"/orders/{order.id}/cancel", data={"csrf_token": token}).status_code == 409
    session.expire_all()
    assert session.get(Order, order.id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]


def test_unpaid_orders_expire_after_the_invoice_period(
    shop: Gallery, login_as: Signer, session: Session, clock: Clock, app: Flask
) -> None:
    order = _ordered(login_as(shop.guardian), shop, session)
    assert expire_unpaid(session, clock.now + dt.timedelta(days=13)) == 0
    days = runtime(app).settings.invoice_days
    assert expire_unpaid(session, clock.now + dt.timedelta(days=days, seconds=1)) == 1
    session.commit()
    session.expire_all()
    assert session.get(Order, order.id).status is OrderStatus.EXPIRED  # type: ignore[union-attr]


def test_no_entitlement_before_payment(shop: Gallery, login_as: Signer, session: Session) -> None:
    _ordered(login_as(shop.guardian), shop, session)
    count = session.scalar(select(func.count()).select_from(Entitlement))
    assert count == 0
