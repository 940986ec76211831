"""Stripe Checkout: sessions made from the order, webhooks verified and applied once, refunds.

No network: a local HTTP server answers like the Stripe API and records every call, and
webhooks are signed with the library's own scheme (``t=…,v1=HMAC-SHA256``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import create_app
from app.audit.models import AuditEvent
from app.auth.models import StaffRole, StaffUser
from app.auth.policies import SYSTEM
from app.config import ConfigError, Settings
from app.db import utcnow
from app.errors import Conflict
from app.orders.models import (
    Entitlement,
    Order,
    OrderStatus,
    PaymentEvent,
    PaymentMethod,
    Product,
)
from app.orders.services import add_to_cart, place_order, set_prices
from app.orders.stripe import (
    PaymentUnavailable,
    StripeGateway,
    create_checkout,
    handle_event,
    refund_payment,
)
from app.photos.models import PhotoStatus
from app.web.context import runtime
from tests.factories import (
    make_classroom,
    make_event,
    make_family,
    make_guardian,
    make_photo,
    make_school,
    make_staff,
    make_student,
)

SECRET_KEY = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_" + "test5ecret0f0ur0wnEndp0int"
WEBHOOK = "/payments/stripe/webhook"
DOWNLOAD_YEN, PRINT_YEN = 1500, 300


# -- a local Stripe API ------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeStripe:
    """Answers ``/v1/checkout/sessions`` and ``/v1/refunds`` as Stripe does, and records."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    refuse_refunds: bool = False
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def paths(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        key = call.headers.get("idempotency-key")
        if call.method == "POST" and key in self.replies:
            return self.replies[key]  # Stripe repeats its first answer to a key
        reply = self._route(call)
        if call.method == "POST" and key:
            self.replies[key] = reply
        return reply

    def _route(self, call: Call) -> tuple[int, dict[str, Any]]:
        params = call.params
        if call.method == "POST" and call.path == "/v1/checkout/sessions":
            n = next(self.ids)
            total = 0
            for index in itertools.count():
                prefix = f"line_items[{index}]"
                if f"{prefix}[quantity]" not in params:
                    break
                unit = int(params[f"{prefix}[price_data][unit_amount]"])
                total += unit * int(params[f"{prefix}[quantity]"])
            checkout = {
                "id": f"cs_test_{n}",
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/c/pay/cs_test_{n}",
                "amount_total": total,
                "currency": params["currency"],
                "mode": params["mode"],
                "payment_status": "unpaid",
                "status": "open",
                "payment_intent": None,
                "client_reference_id": params.get("client_reference_id"),
                "metadata": {
                    "order_id": params.get("metadata[order_id]"),
                    "order_number": params.get("metadata[order_number]"),
                },
            }
            # Paying gives the session its payment intent; the tests pay by webhook.
            self.sessions[checkout["id"]] = checkout | {"payment_intent": f"pi_test_{n}"}
            return 200, checkout
        if call.method == "GET" and call.path.startswith("/v1/checkout/sessions/"):
            found = self.sessions.get(call.path.rsplit("/", 1)[1])
            if found is not None:
                return 200, found
        if call.method == "POST" and call.path == "/v1/refunds":
            if self.refuse_refunds:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "charge_already_refunded",
                        "message": "Charge has already been refunded.",
                    }
                }
            return 200, {
                "id": f"re_test_{next(self.ids)}",
                "object": "refund",
                "payment_intent": params["payment_intent"],
                "currency": "jpy",
                "status": "succeeded",
            }
        return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized URL"}}


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path, _, query = self.path.partition("?")
            call = Call(
                method=self.command,
                path=path,
                params=dict(parse_qsl(body or query, keep_blank_values=True)),
                headers={name.lower(): value for name, value in self.headers.items()},
            )
            fake.calls.append(call)
            status, reply = fake.answer(call)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{len(fake.calls)}")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 (http.server's naming)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, fake_stripe: FakeStripe) -> Settings:
    """The test settings with Stripe on, talking to the local server."""
    key_file = tmp_path / "stripe-secret.key"
    key_file.write_text(SECRET_KEY + "\n")
    webhook_file = tmp_path / "stripe-webhook.key"
    webhook_file.write_text(WEBHOOK_SECRET + "\n")
    return settings.with_overrides(
        stripe_secret_key_file=key_file,
        stripe_webhook_secret_file=webhook_file,
        stripe_api_base=fake_stripe.url,
    )


# -- a family with an order --------------------------------------------------------------------


@dataclass
class Shop:
    order: Order
    admin: StaffUser
    gateway: StripeGateway


@pytest.fixture
def shop(app: Flask, session: Session) -> Shop:
    """A family's pending Stripe order: one download and two L prints (2,100 yen)."""
    now = utcnow()
    school = make_school(session)
    classroom = make_classroom(session, school)
    family = make_family(session, school)
    make_student(session, family, classroom)
    guardian = make_guardian(session, family)
    event = make_event(session, school, audience=[classroom])
    first = make_photo(session, event, status=PhotoStatus.READY)
    second = make_photo(session, event, status=PhotoStatus.READY)
    set_prices(
        session,
        SYSTEM,
        event,
        {Product.DIGITAL: DOWNLOAD_YEN, Product.PRINT_L: PRINT_YEN},
        downloads_allowed=3,
        download_days=30,
        now=now,
    )
    add_to_cart(
        session, family, guardian, photo_id=first.id, product=Product.DIGITAL, quantity=1, now=now
    )
    add_to_cart(
        session, family, guardian, photo_id=second.id, product=Product.PRINT_L, quantity=2, now=now
    )
    order, created = place_order(
        session,
        family,
        guardian,
        method=PaymentMethod.STRIPE,
        idempotency_key="checkout-form-0001",
        confirmed_total_yen=DOWNLOAD_YEN + 2 * PRINT_YEN,
        pay_within=dt.timedelta(days=14),
        now=now,
    )
    assert created
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    session.commit()
    gateway = runtime(app).stripe
    assert gateway is not None
    return Shop(order=order, admin=admin, gateway=gateway)


def _checkout(shop: Shop, session: Session) -> str:
    start = create_checkout(
        shop.gateway,
        session,
        shop.order,
        success_url="https://photogate.test/orders/paid",
        cancel_url="https://photogate.test/cart",
    )
    session.commit()
    return start.session_id


def _event(
    shop: Shop,
    event_type: str,
    *,
    session_id: str | None,
    payment_status: str = "paid",
    amount: int | None = None,
    currency: str = "jpy",
    event_id: str | None = None,
) -> dict[str, Any]:
    order = shop.order
    return {
        "id": event_id or f"evt_{event_type.rsplit('.', 1)[1]}_{order.id}_{payment_status}",
        "object": "event",
        "type": event_type,
        "api_version": "2025-01-01",
        "created": 1_765_000_000,
        "data": {
            "object": {
                "id": session_id,
                "object": "checkout.session",
                "amount_total": order.total_yen if amount is None else amount,
                "currency": currency,
                "payment_status": payment_status,
                "payment_intent": "pi_test_1",
                "client_reference_id": order.number,
                "metadata": {"order_id": str(order.id), "order_number": order.number},
            }
        },
    }


def _post(client: FlaskClient, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> Any:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return client.post(
        WEBHOOK,
        data=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def _state(session: Session, order: Order) -> tuple[OrderStatus, int, int]:
    """The order's status, its payment events and its usable entitlements."""
    session.expire_all()
    status = session.get(Order, order.id).status  # type: ignore[union-attr]
    events = session.scalar(
        select(func.count()).select_from(PaymentEvent).where(PaymentEvent.order_id == order.id)
    )
    entitlements = session.scalar(
        select(func.count())
        .select_from(Entitlement)
        .where(Entitlement.family_id == order.family_id, Entitlement.revoked_at.is_(None))
    )
    return status, int(events or 0), int(entitlements or 0)


def _all_payment_events(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(PaymentEvent)) or 0)


# -- checkout ----------------------------------------------------------------------------------


def test_checkout_session_carries_the_order_prices_not_todays(
    app: Flask, session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    order = shop.order
    # Prices changed after the order was placed: the family pays what it was shown.
    event = order.items[0].event
    set_prices(
        session,
        SYSTEM,
        event,
        {Product.DIGITAL: 9999, Product.PRINT_L: 9999},
        downloads_allowed=3,
        download_days=30,
        now=utcnow(),
    )
    session.commit()

    session_id = _checkout(shop, session)

    [call] = fake_stripe.paths("POST", "/v1/checkout/sessions")
    params = call.params
    assert params["mode"] == "payment"
    assert params["currency"] == "jpy"
    lines = sorted(
        (
            int(params[f"line_items[{i}][price_data][unit_amount]"]),
            int(params[f"line_items[{i}][quantity]"]),
        )
        for i in range(2)
    )
    assert lines == [(PRINT_YEN, 2), (DOWNLOAD_YEN, 1)]
    assert "line_items[2][quantity]" not in params
    assert {params["payment_method_types[0]"], params["payment_method_types[1]"]} == {
        "card",
        "konbini",
    }
    assert params["client_reference_id"] == order.number
    assert params["metadata[order_id]"] == str(order.id)
    assert params["metadata[order_number]"] == order.number
    assert params["success_url"] == "https://photogate.test/orders/paid"
    assert call.headers["idempotency-key"] == f"photogate-checkout-{order.number}"
    assert call.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert fake_stripe.sessions[session_id]["amount_total"] == order.total_yen == 2100
    session.expire_all()
    assert session.get(Order, order.id).provider_reference == session_id  # type: ignore[union-attr]


def test_asking_twice_for_checkout_gets_the_same_session(
    session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    first = _checkout(shop, session)
    second = _checkout(shop, session)
    assert first == second
    assert len(fake_stripe.paths("POST", "/v1/checkout/sessions")) == 1
    assert [c.path for c in fake_stripe.paths("GET", "/v1/")] == [f"/v1/checkout/sessions/{first}"]


def test_checkout_again_after_the_konbini_voucher_is_refused(
    session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    session_id = _checkout(shop, session)
    fake_stripe.sessions[session_id]["status"] = "complete"
    with pytest.raises(Conflict):
        _checkout(shop, session)
    assert len(fake_stripe.paths("POST", "/v1/checkout/sessions")) == 1


def test_two_first_requests_at_once_make_one_session(
    session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    first = _checkout(shop, session)
    shop.order.provider_reference = None  # as the racing request saw it
    second = _checkout(shop, session)
    assert first == second
    calls = fake_stripe.paths("POST", "/v1/checkout/sessions")
    assert len(calls) == 2
    assert calls[0].headers["idempotency-key"] == calls[1].headers["idempotency-key"]
    assert calls[0].params == calls[1].params  # so Stripe repeats its first answer
    assert len(fake_stripe.sessions) == 1


def test_checkout_of_an_order_not_pending_is_refused(
    session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    shop.order.status = OrderStatus.CANCELLED
    session.commit()
    with pytest.raises(Conflict):
        _checkout(shop, session)
    assert fake_stripe.calls == []


# -- webhooks ----------------------------------------------------------------------------------


def test_card_payment_settles_the_order_and_grants_entitlements(
    client: FlaskClient, session: Session, shop: Shop
) -> None:
    session_id = _checkout(shop, session)
    response = _post(client, _event(shop, "checkout.session.completed", session_id=session_id))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "paid"
    assert _state(session, shop.order) == (OrderStatus.PAID, 1, 1)
    assert shop.order.paid_via == "card"
    assert response.headers.get("Set-Cookie") is None


@pytest.mark.parametrize(
    "forge",
    ["wrong secret", "no signature", "body changed after signing", "old timestamp"],
)
def test_forged_webhook_is_400_and_changes_nothing(
    client: FlaskClient, session: Session, shop: Shop, forge: str
) -> None:
    session_id = _checkout(shop, session)
    payload = json.dumps(_event(shop, "checkout.session.completed", session_id=session_id))
    secret, timestamp = WEBHOOK_SECRET, None
    if forge == "wrong secret":
        secret = "whsec_" + "an0therEndp0intsSecret00"
    if forge == "old timestamp":
        timestamp = int(utcnow().timestamp()) - 3600  # a captured request played back later
    headers = {
        "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
            payload, secret, timestamp
        )
    }
    if forge == "no signature":
        headers = {}
    if forge == "body changed after signing":
        payload = payload.replace('"payment_status": "paid"', '"payment_status": "paid" ')
    response = client.post(WEBHOOK, data=payload, headers=headers)
    assert response.status_code == 400
    assert _state(session, shop.order) == (OrderStatus.PENDING, 0, 0)
    assert _all_payment_events(session) == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe\x00", b"[]", b'{"object": "event"}', b'{"id": 5, "type": []}'],
    ids=["text", "not utf-8", "a list", "no id", "wrong types"],
)
def test_signed_but_malformed_body_is_400_not_500(
    client: FlaskClient, session: Session, shop: Shop, body: bytes
) -> None:
    text = body.decode("latin-1")
    header = stripe.WebhookSignature.generate_signature_header(text, WEBHOOK_SECRET)
    response = client.post(WEBHOOK, data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    assert _all_payment_events(session) == 0


def test_an_oversized_body_is_refused_before_anything_is_read(
    client: FlaskClient, session: Session, shop: Shop
) -> None:
    payload = json.dumps({"id": "evt_big", "padding": "x" * 300_000})
    header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
    response = client.post(WEBHOOK, data=payload, headers={"Stripe-Signature": header})
    assert response.status_code == 413
    assert _all_payment_events(session) == 0


def test_without_stripe_configured_the_webhook_is_404(settings: Settings) -> None:
    plain = create_app(
        settings.with_overrides(stripe_secret_key_file=None, stripe_webhook_secret_file=None)
    )
    try:
        assert runtime(plain).stripe is None
        payload = "{}"
        header = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
        response = plain.test_client().post(
            WEBHOOK, data=payload, headers={"Stripe-Signature": header}
        )
        assert response.status_code == 404
    finally:
        runtime(plain).database.engine.dispose()


def test_replayed_webhook_pays_once(client: FlaskClient, session: Session, shop: Shop) -> None:
    session_id = _checkout(shop, session)
    event = _event(shop, "checkout.session.completed", session_id=session_id)
    first = _post(client, event)
    paid_at = _paid_at(session, shop.order)
    again = _post(client, event)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["outcome"] == "replayed"
    assert _state(session, shop.order) == (OrderStatus.PAID, 1, 1)
    assert _paid_at(session, shop.order) == paid_at
    # The same news under a new event id (Stripe sends duplicates) pays nothing more.
    duplicate = _post(client, event | {"id": "evt_duplicate_delivery"})
    assert duplicate.get_json()["outcome"] == "ignored: already paid"
    assert _state(session, shop.order) == (OrderStatus.PAID, 2, 1)


def _paid_at(session: Session, order: Order) -> dt.datetime | None:
    session.expire_all()
    return session.get(Order, order.id).paid_at  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("amount", "currency"), [(2099, "jpy"), (1, "jpy"), (2100, "usd")], ids=["less", "one", "usd"]
)
def test_wrong_amount_or_currency_is_not_paid(
    client: FlaskClient, session: Session, shop: Shop, amount: int, currency: str
) -> None:
    session_id = _checkout(shop, session)
    event = _event(
        shop, "checkout.session.completed", session_id=session_id, amount=amount, currency=currency
    )
    response = _post(client, event)
    assert response.status_code == 200
    assert _state(session, shop.order) == (OrderStatus.PENDING, 1, 0)
    outcome = session.scalar(select(PaymentEvent.outcome))
    assert outcome is not None
    assert outcome.startswith("ignored: amount differs")
    alerts = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "orders.payment_mismatch")
    )
    assert alerts == 1


def test_konbini_waits_for_the_money_then_pays(
    client: FlaskClient, session: Session, shop: Shop
) -> None:
    session_id = _checkout(shop, session)
    voucher = _post(
        client,
        _event(shop, "checkout.session.completed", session_id=session_id, payment_status="unpaid"),
    )
    assert voucher.status_code == 200
    assert _state(session, shop.order) == (OrderStatus.PENDING, 1, 0)
    paid = _post(
        client, _event(shop, "checkout.session.async_payment_succeeded", session_id=session_id)
    )
    assert paid.status_code == 200
    assert _state(session, shop.order) == (OrderStatus.PAID, 2, 1)
    assert shop.order.paid_via == "konbini"


@pytest.mark.parametrize(
    "event_type", ["checkout.session.async_payment_failed", "checkout.session.expired"]
)
def test_konbini_failure_or_expiry_cancels(
    client: FlaskClient, session: Session, shop: Shop, event_type: str
) -> None:
    session_id = _checkout(shop, session)
    _post(
        client,
        _event(shop, "checkout.session.completed", session_id=session_id, payment_status="unpaid"),
    )
    response = _post(
        client, _event(shop, event_type, session_id=session_id, payment_status="unpaid")
    )
    assert response.status_code == 200
    assert _state(session, shop.order) == (OrderStatus.CANCELLED, 2, 0)


def test_payment_for_an_order_closed_meanwhile_is_kept_for_a_refund(
    client: FlaskClient, session: Session, shop: Shop
) -> None:
    session_id = _checkout(shop, session)
    shop.order.status = OrderStatus.EXPIRED
    session.commit()
    response = _post(
        client, _event(shop, "checkout.session.async_payment_succeeded", session_id=session_id)
    )
    assert response.status_code == 200
    assert "refund needed" in response.get_json()["outcome"]
    assert _state(session, shop.order) == (OrderStatus.EXPIRED, 1, 0)
    assert session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "orders.paid_after_close")
    )


def test_an_order_whose_session_id_was_not_kept_is_found_by_its_metadata(
    session: Session, shop: Shop
) -> None:
    # Stripe made the session but the request failed before the id was committed here.
    result = handle_event(
        session, _event(shop, "checkout.session.completed", session_id="cs_test_lost"), utcnow()
    )
    assert result.outcome == "paid"
    session.commit()
    assert _state(session, shop.order) == (OrderStatus.PAID, 1, 1)
    assert shop.order.provider_reference == "cs_test_lost"


def test_events_of_unknown_orders_and_types_are_answered_and_ignored(
    client: FlaskClient, session: Session, shop: Shop
) -> None:
    session_id = _checkout(shop, session)
    stranger = _event(shop, "checkout.session.completed", session_id="cs_test_elsewhere")
    stranger["data"]["object"]["metadata"] = {"order_id": "999999", "order_number": "PG-NONE"}
    other_type = _event(shop, "charge.succeeded", session_id=session_id)
    for event in (stranger, other_type):
        response = _post(client, event)
        assert response.status_code == 200
    assert _state(session, shop.order)[0] is OrderStatus.PENDING
    assert _all_payment_events(session) == 2


# -- refunds -----------------------------------------------------------------------------------


def test_refund_goes_through_stripe_and_revokes_entitlements(
    client: FlaskClient, session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    session_id = _checkout(shop, session)
    _post(client, _event(shop, "checkout.session.completed", session_id=session_id))
    assert _state(session, shop.order) == (OrderStatus.PAID, 1, 1)
    order = session.get(Order, shop.order.id)
    assert order is not None

    assert refund_payment(shop.gateway, session, order, now=utcnow(), actor=shop.admin)
    session.commit()

    [refund] = fake_stripe.paths("POST", "/v1/refunds")
    assert refund.params["payment_intent"] == fake_stripe.sessions[session_id]["payment_intent"]
    assert refund.params["metadata[order_number]"] == order.number
    assert refund.headers["idempotency-key"] == f"photogate-refund-{order.number}"
    assert _state(session, order) == (OrderStatus.REFUNDED, 1, 0)
    assert order.handled_by_id == shop.admin.id
    # A second click finds nothing to refund and calls Stripe no more.
    with pytest.raises(Conflict):
        refund_payment(shop.gateway, session, order, now=utcnow(), actor=shop.admin)
    assert len(fake_stripe.paths("POST", "/v1/refunds")) == 1


def test_refund_stripe_refuses_changes_nothing(
    client: FlaskClient, session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    session_id = _checkout(shop, session)
    _post(client, _event(shop, "checkout.session.completed", session_id=session_id))
    session.expire_all()
    order = session.get(Order, shop.order.id)
    assert order is not None
    fake_stripe.refuse_refunds = True
    with pytest.raises(PaymentUnavailable):
        refund_payment(shop.gateway, session, order, now=utcnow(), actor=shop.admin)
    session.commit()
    assert _state(session, order) == (OrderStatus.PAID, 1, 1)


def test_an_invoice_order_is_not_refunded_through_stripe(
    session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    shop.order.payment_method = PaymentMethod.INVOICE
    shop.order.status = OrderStatus.PAID
    session.commit()
    with pytest.raises(Conflict):
        refund_payment(shop.gateway, session, shop.order, now=utcnow(), actor=shop.admin)
    assert fake_stripe.calls == []


# -- settings ----------------------------------------------------------------------------------


def _environ(tmp_path: Path, key: str, webhook: str | None) -> dict[str, str]:
    key_file = tmp_path / "key"
    key_file.write_text(key)
    environ = {
        "PHOTOGATE_VAR_DIR": str(tmp_path / "var"),
        "PHOTOGATE_STRIPE_SECRET_KEY_FILE": str(key_file),
    }
    if webhook is not None:
        hook_file = tmp_path / "hook"
        hook_file.write_text(webhook)
        environ["PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE"] = str(hook_file)
    return environ


def test_stripe_settings_are_read_from_files(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _environ(tmp_path, SECRET_KEY + "\n", WEBHOOK_SECRET)
        | {"PHOTOGATE_STRIPE_API_BASE": "http://127.0.0.1:9/"}
    )
    assert settings.stripe_enabled
    assert settings.stripe_api_base == "http://127.0.0.1:9"
    keys = settings.load_stripe_keys()
    assert keys is not None
    assert (keys.secret_key, keys.webhook_secret) == (SECRET_KEY, WEBHOOK_SECRET)
    assert SECRET_KEY not in repr(keys)
    assert not Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path)}).stripe_enabled


@pytest.mark.parametrize(
    ("key", "webhook", "variable"),
    [
        (SECRET_KEY, None, "PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE"),
        (
            "pk_test_" + "publishablekeyinthewrong",
            WEBHOOK_SECRET,
            "PHOTOGATE_STRIPE_SECRET_KEY_FILE",
        ),
        (SECRET_KEY, SECRET_KEY, "PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE"),
    ],
    ids=["no webhook secret", "publishable key", "key as webhook secret"],
)
def test_stripe_settings_that_cannot_work_are_refused(
    tmp_path: Path, key: str, webhook: str | None, variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(_environ(tmp_path, key, webhook)).load_stripe_keys()


# -- the pages: checkout sends the family to Stripe, the school's refund button ----------


def test_checkout_with_card_or_konbini_goes_to_stripe_and_the_order_waits(
    app: Flask, session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    from tests.orders.conftest import checkout_fields
    from tests.support.web import sign_in

    order = session.get(Order, shop.order.id)
    assert order is not None
    family, guardian = order.family, order.placed_by
    assert guardian is not None
    first_photo = order.items[0].photo_id
    add_to_cart(
        session,
        family,
        guardian,
        photo_id=first_photo,
        product=Product.DIGITAL,
        quantity=1,
        now=utcnow(),
    )
    session.commit()
    client = app.test_client()
    sign_in(app, client, session, guardian)
    fields = checkout_fields(client) | {"method": "stripe"}
    response = client.post("/checkout", data=fields)
    assert response.status_code == 303
    assert len(fake_stripe.paths("POST", "/v1/checkout/sessions")) == 1
    new_order = session.scalars(
        select(Order).where(Order.family_id == family.id, Order.id != order.id)
    ).one()
    assert new_order.provider_reference is not None
    stripe_session = fake_stripe.sessions[new_order.provider_reference]
    assert response.headers["Location"] == stripe_session["url"]
    assert new_order.status is OrderStatus.PENDING
    # A second press of the same form finds the same order and the same session.
    again = client.post("/checkout", data=fields)
    assert again.headers["Location"] == response.headers["Location"]
    assert len(fake_stripe.paths("POST", "/v1/checkout/sessions")) == 1


def test_the_schools_refund_button_refunds_a_stripe_order_through_stripe(
    app: Flask, client: FlaskClient, session: Session, shop: Shop, fake_stripe: FakeStripe
) -> None:
    from tests.orders.conftest import csrf
    from tests.support.web import sign_in

    session_id = _checkout(shop, session)
    _post(client, _event(shop, "checkout.session.completed", session_id=session_id))
    staff = app.test_client()
    sign_in(app, staff, session, shop.admin)
    path = f"/schools/{shop.order.school_id}/orders/{shop.order.id}/refund"
    response = staff.post(path, data={"csrf_token": csrf(staff, "/staff/signin")})
    assert response.status_code == 303
    assert len(fake_stripe.paths("POST", "/v1/refunds")) == 1
    assert _state(session, shop.order)[0] is OrderStatus.REFUNDED
