"""The school's side of orders: marking paid, cancelling, refunding, prices, reports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.auth.policies import SYSTEM
from app.orders.models import CartItem, Entitlement, Order, OrderStatus, PaymentMethod, Product
from app.orders.receipts import receipt_of, tax_included
from app.orders.services import place_order, price_list_of, set_prices
from app.web.context import runtime
from tests.factories import make_school, make_staff
from tests.orders.conftest import PRICES, Signer, add, checkout_fields, csrf
from tests.support.gallery import Gallery
from tests.support.web import sign_in


def _order(app: Flask, session: Session, shop: Gallery, *lines: tuple[int, Product, int]) -> Order:
    """An invoice order placed through the service, as checkout places it."""
    for photo_index, product, quantity in lines:
        session.add(
            CartItem(
                family_id=shop.family.id,
                photo_id=shop.photos[photo_index].id,
                product=product,
                quantity=quantity,
            )
        )
    session.flush()
    order, created = place_order(
        session,
        shop.family,
        shop.guardian,
        method=PaymentMethod.INVOICE,
        idempotency_key=f"key-{len(lines)}-{lines[0][0]}-{lines[0][1]}",
        confirmed_total_yen=None,
        pay_within=dt.timedelta(days=14),
        now=runtime(app).now(),
    )
    assert created
    session.commit()
    return order


def _entitlements(session: Session, family_id: int) -> list[Entitlement]:
    session.expire_all()
    return list(session.scalars(select(Entitlement).where(Entitlement.family_id == family_id)))


def _post(client: Any, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, "/staff/signin"), **data})


def test_marked_paid_grants_one_entitlement_per_download_on_the_event_terms(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    order = _order(
        app,
        session,
        shop,
        (0, Product.DIGITAL, 1),
        (1, Product.DIGITAL, 1),
        (2, Product.PRINT_L, 4),
    )
    client = login_as(shop.admin)
    path = f"/schools/{shop.school.id}/orders/{order.id}/paid"
    response = _post(client, path, via="bank_transfer")
    assert response.status_code == 303
    session.expire_all()
    paid = session.get(Order, order.id)
    assert paid is not None
    assert paid.status is OrderStatus.PAID
    assert (paid.paid_via, paid.handled_by_id) == ("bank_transfer", shop.admin.id)  # type: ignore[union-attr]
    granted = _entitlements(session, shop.family.id)
    assert sorted(e.photo_id for e in granted) == sorted([shop.photos[0].id, shop.photos[1].id])
    for entitlement in granted:
        assert (entitlement.downloads_allowed, entitlement.downloads_used) == (3, 0)
        assert entitlement.expires_at - entitlement.created_at == dt.timedelta(days=30)
    # A second click (or a colleague at the same time) changes nothing.
    assert _post(client, path, via="cash").status_code == 409
    assert len(_entitlements(session, shop.family.id)) == 2


def test_the_family_sees_its_downloads_once_paid(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    order = _order(app, session, shop, (0, Product.DIGITAL, 1))
    family_client = app.test_client()
    sign_in(app, family_client, session, shop.guardian)
    assert "data-entitlement" not in family_client.get("/orders/downloads").get_data(as_text=True)
    _post(login_as(shop.admin), f"/schools/{shop.school.id}/orders/{order.id}/paid", via="cash")
    page = family_client.get("/orders/downloads").get_data(as_text=True)
    assert 'data-left="3"' in page


def test_refund_revokes_the_entitlements(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    order = _order(app, session, shop, (0, Product.DIGITAL, 1))
    client = login_as(shop.admin)
    base = f"/schools/{shop.school.id}/orders/{order.id}"
    assert _post(client, f"{base}/refund").status_code == 409  # not paid yet
    _post(client, f"{base}/paid", via="cash")
    assert _post(client, f"{base}/refund").status_code == 303
    [entitlement] = _entitlements(session, shop.family.id)
    assert entitlement.revoked_at is not None
    assert not entitlement.is_usable(runtime(app).now())
    session.expire_all()
    assert session.get(Order, order.id).status is OrderStatus.REFUNDED  # type: ignore[union-attr]


def test_the_school_cancels_a_pending_order_but_not_a_paid_one(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    first = _order(app, session, shop, (0, Product.DIGITAL, 1))
    second = _order(app, session, shop, (1, Product.PRINT_L, 1))
    client = login_as(shop.admin)
    base = f"/schools/{shop.school.id}/orders"
    assert _post(client, f"{base}/{first.id}/cancel").status_code == 303
    _post(client, f"{base}/{second.id}/paid", via="cash")
    assert _post(client, f"{base}/{second.id}/cancel").status_code == 409
    session.expire_all()
    assert session.get(Order, first.id).status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert session.get(Order, second.id).status is OrderStatus.PAID  # type: ignore[union-attr]


def _other_admin(session: Session, shop: Gallery) -> Any:
    return make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)


def _photographer(session: Session, shop: Gallery) -> Any:
    return make_staff(session, StaffRole.PHOTOGRAPHER)


@pytest.mark.parametrize(("who", "status"), [(_other_admin, 404), (_photographer, 403)])
def test_only_the_schools_own_staff_handle_its_orders(
    app: Flask, shop: Gallery, session: Session, login_as: Signer, who: Any, status: int
) -> None:
    order = _order(app, session, shop, (0, Product.DIGITAL, 1))
    stranger = who(session, shop)
    session.commit()
    client = login_as(stranger)
    base = f"/schools/{shop.school.id}"
    for path in (
        f"{base}/sales",
        f"{base}/sales.csv",
        f"{base}/events/{shop.event.id}/orders",
        f"{base}/orders/{order.id}",
    ):
        assert client.get(path).status_code == status, path
    for action in ("paid", "cancel", "refund"):
        response = _post(client, f"{base}/orders/{order.id}/{action}", via="cash")
        assert response.status_code == status, action
    session.expire_all()
    assert session.get(Order, order.id).status is OrderStatus.PENDING  # type: ignore[union-attr]
    assert _entitlements(session, shop.family.id) == []


def test_an_order_of_another_school_is_404_under_this_school(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    order = _order(app, session, shop, (0, Product.DIGITAL, 1))
    other = make_school(session)
    operator = make_staff(session, StaffRole.OPERATOR)
    session.commit()
    client = login_as(operator)
    assert client.get(f"/schools/{other.id}/orders/{order.id}").status_code == 404
    assert client.get(f"/schools/{shop.school.id}/orders/{order.id}").status_code == 200


def test_the_receipt_rounds_the_tax_once_per_invoice() -> None:
    # Three lines of 105 yen: per line the tax would be 9 + 9 + 9 = 27; once on 315 it is 28.
    assert [tax_included(105)] * 3 == [9, 9, 9]
    assert tax_included(315) == 28
    assert tax_included(0) == 0
    assert tax_included(1100) == 100
    with pytest.raises(ValueError, match="negative"):
        tax_included(-1)


def test_the_receipt_names_seller_registration_buyer_and_tax(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    shop.school.seller_name = "Example Photo Studio"
    shop.school.invoice_registration = "T1234567890123"
    set_prices(
        session,
        SYSTEM,
        shop.event,
        {Product.DIGITAL: 105, Product.PRINT_L: 105},
        downloads_allowed=3,
        download_days=30,
        now=runtime(app).now(),
    )
    session.commit()
    order = _order(app, session, shop, (0, Product.DIGITAL, 1), (1, Product.PRINT_L, 2))
    assert (order.total_yen, order.tax_yen) == (315, 28)
    _post(login_as(shop.admin), f"/schools/{shop.school.id}/orders/{order.id}/paid", via="cash")
    family = app.test_client()
    sign_in(app, family, session, shop.guardian)
    page = family.get(f"/orders/{order.id}/receipt").get_data(as_text=True)
    for expected in ("Example Photo Studio", "T1234567890123", "¥315", "¥28", order.buyer_name):
        assert expected in page, expected
    session.expire_all()
    paid = session.get(Order, order.id)
    assert paid is not None
    receipt = receipt_of(paid, runtime(app).now())
    assert receipt.title_paid
    assert receipt.is_qualified


def test_a_receipt_without_a_valid_registration_says_it_is_not_qualified(
    app: Flask, shop: Gallery, session: Session
) -> None:
    shop.school.invoice_registration = "12345"
    session.commit()
    order = _order(app, session, shop, (0, Product.DIGITAL, 1))
    receipt = receipt_of(order, runtime(app).now())
    assert not receipt.is_qualified
    assert not receipt.title_paid  # an invoice until it is paid


def test_the_assigned_photographer_sets_prices_and_others_cannot_know_the_event(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    assigned = make_staff(session, StaffRole.PHOTOGRAPHER)
    stranger = make_staff(session, StaffRole.PHOTOGRAPHER)
    shop.event.photographers.append(assigned)
    session.commit()
    path = f"/studio/events/{shop.event.id}/prices"
    client = login_as(stranger)
    assert client.get(path).status_code == 404
    client = app.test_client()
    sign_in(app, client, session, assigned)
    fields = {
        "csrf_token": csrf(client, path),
        "downloads_allowed": "5",
        "download_days": "14",
        "price_digital": "1500",
        "price_print_l": "",
    }
    assert client.post(path, data=fields).status_code == 303
    session.expire_all()
    price_list = price_list_of(session, shop.event.id)
    assert price_list is not None
    assert price_list.price_of(Product.DIGITAL) == 1500
    assert price_list.price_of(Product.PRINT_L) is None  # no longer sold
    assert (price_list.downloads_allowed, price_list.download_days) == (5, 14)


@pytest.mark.parametrize(
    "bad",
    [
        {"price_digital": "0"},
        {"price_digital": "-100"},
        {"price_digital": "1100.5"},
        {"price_digital": "99999999999"},
        {"downloads_allowed": "0"},
        {"download_days": "400"},
    ],
)
def test_bad_prices_are_a_400_and_change_nothing(
    shop: Gallery, session: Session, login_as: Signer, bad: dict[str, str]
) -> None:
    path = f"/studio/events/{shop.event.id}/prices"
    client = login_as(shop.admin)
    fields = {
        "csrf_token": csrf(client, path),
        "downloads_allowed": "3",
        "download_days": "30",
        "price_digital": "1200",
    }
    assert client.post(path, data=fields | bad).status_code == 400
    session.expire_all()
    price_list = price_list_of(session, shop.event.id)
    assert price_list is not None
    assert price_list.price_of(Product.DIGITAL) == PRICES[Product.DIGITAL]


def _csv(response: Any) -> list[list[str]]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_the_print_list_has_paid_prints_only_and_no_formulas(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    shop.family.display_name = '=HYPERLINK("http://evil.example")'
    session.commit()
    paid = _order(app, session, shop, (0, Product.PRINT_2L, 2), (1, Product.DIGITAL, 1))
    _order(app, session, shop, (2, Product.PRINT_A4, 1))  # never paid
    client = login_as(shop.admin)
    _post(client, f"/schools/{shop.school.id}/orders/{paid.id}/paid", via="cash")
    rows = _csv(client.get(f"/studio/events/{shop.event.id}/prints.csv"))
    assert rows[0][0] == "order"
    assert len(rows) == 2
    line = rows[1]
    assert (line[0], line[4], line[6], line[7]) == (
        paid.number,
        str(shop.photos[0].id),
        "print_2l",
        "2",
    )
    assert line[3].startswith("'=")


def test_sales_per_event_count_paid_and_pending(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    paid = _order(app, session, shop, (0, Product.DIGITAL, 1), (1, Product.PRINT_L, 3))
    _order(app, session, shop, (2, Product.DIGITAL, 1))
    client = login_as(shop.admin)
    _post(client, f"/schools/{shop.school.id}/orders/{paid.id}/paid", via="cash")
    rows = _csv(client.get(f"/schools/{shop.school.id}/sales.csv"))
    [row] = [row for row in rows[1:] if row[0] == str(shop.event.id)]
    assert row[3:] == ["1", "1", str(1100 + 3 * 330), "0"]


def test_the_family_home_says_what_was_bought_for_a_closed_sale(
    app: Flask, shop: Gallery, session: Session, login_as: Signer, clock: Any
) -> None:
    order = _order(app, session, shop, (0, Product.DIGITAL, 1), (1, Product.PRINT_L, 1))
    _post(login_as(shop.admin), f"/schools/{shop.school.id}/orders/{order.id}/paid", via="cash")
    clock.advance(days=11)  # the sale closed
    family = app.test_client()
    sign_in(app, family, session, shop.guardian)
    page = family.get("/events").get_data(as_text=True)
    assert 'data-bought="2"' in page


def test_the_checkout_journey_through_the_pages(
    app: Flask, shop: Gallery, session: Session, login_as: Signer
) -> None:
    client = login_as(shop.guardian)
    add(client, shop.photos[0].id)
    response = client.post("/checkout", data=checkout_fields(client))
    assert response.status_code == 303
    order_page = client.get(response.headers["Location"])
    assert order_page.status_code == 200
    assert 'data-status="pending"' in order_page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("registration", "status", "kept"),
    [("T1234567890123", 303, "T1234567890123"), ("1234567890123", 400, None), ("", 303, None)],
)
def test_the_school_sets_the_seller_and_registration_number(
    shop: Gallery,
    session: Session,
    login_as: Signer,
    registration: str,
    status: int,
    kept: str | None,
) -> None:
    client = login_as(shop.admin)
    response = _post(
        client,
        f"/schools/{shop.school.id}/seller",
        seller_name="Studio",
        invoice_registration=registration,
    )
    assert response.status_code == status
    session.expire_all()
    school = session.get(type(shop.school), shop.school.id)
    assert school is not None
    assert school.invoice_registration == kept
