"""Payment through Stripe Checkout: card, and konbini (which pays later).

The gateway creates a Checkout Session from an order's own lines (prices from the server,
never from a form), verifies Stripe's webhooks with the endpoint's signing secret, and
refunds a paid order's payment.  :func:`handle_event` turns a verified notification into a
change of the order, once: the event is recorded first, so a replay finds it and changes
nothing, and the amount and currency must be the order's before anything is settled.

With only card and konbini offered, the event type says which paid: a Checkout Session
completed as ``paid`` was a card; ``async_payment_succeeded`` is the konbini payment.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.auth.policies import Actor
from app.config import Settings
from app.errors import Conflict, Invalid, Unavailable
from app.i18n import lazy_gettext as _l
from app.orders.models import Order, OrderItem, OrderStatus, PaymentEvent, PaymentMethod
from app.orders.services import cancel_order, product_label, refund_order, settle_paid

logger = logging.getLogger(__name__)

CURRENCY = "jpy"
#: Stripe refuses more line items than this in one Checkout Session.
MAX_LINE_ITEMS = 100
#: Seconds to wait for Stripe before telling the family to try again.
TIMEOUT_SECONDS = 20
#: The events the webhook endpoint should subscribe to; others are recorded and ignored.
HANDLED_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)


class PaymentUnavailable(Unavailable):
    """Stripe could not be reached or refused the request; nothing was changed here."""


class BadWebhook(Invalid):
    """A webhook whose signature does not verify, or whose body is not a Stripe event."""


@dataclass(frozen=True)
class CheckoutStart:
    """Where to send the family to pay: the Checkout Session and its page."""

    session_id: str
    url: str


@dataclass(frozen=True)
class StripeGateway:
    """A Stripe client bound to the operator's key, and the webhook's signing secret."""

    client: stripe.StripeClient = field(repr=False)
    webhook_secret: str = field(repr=False)


def stripe_gateway(settings: Settings) -> StripeGateway | None:
    """The gateway the settings describe, or None when Stripe is not configured."""
    keys = settings.load_stripe_keys()
    if keys is None:
        return None
    client = stripe.StripeClient(
        keys.secret_key,
        base_addresses={"api": settings.stripe_api_base},
        # Stripe retries with the same idempotency key, so a retry never pays twice.
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )
    return StripeGateway(client=client, webhook_secret=keys.webhook_secret)


# -- checkout -------------------------------------------------------------------------------


def _line_items(order: Order) -> list[dict[str, Any]]:
    # One line per event and product at one price: the receipt lists every photo, and
    # Stripe accepts at most 100 lines while a cart may hold 300.
    grouped: dict[tuple[int, str, int], tuple[OrderItem, int]] = {}
    for item in order.items:
        key = (item.event_id, item.product.value, item.unit_price_yen)
        first, quantity = grouped.get(key, (item, 0))
        grouped[key] = (first, quantity + item.quantity)
    lines = [
        {
            "quantity": quantity,
            "price_data": {
                "currency": CURRENCY,
                "unit_amount": item.unit_price_yen,
                "product_data": {"name": f"{product_label(item.product)} ({item.event.title})"},
            },
        }
        for item, quantity in grouped.values()
    ]
    if len(lines) > MAX_LINE_ITEMS:
        lines = [
            {
                "quantity": 1,
                "price_data": {
                    "currency": CURRENCY,
                    "unit_amount": order.total_yen,
                    "product_data": {"name": str(_l("Order %(number)s", number=order.number))},
                },
            }
        ]
    return lines


def _konbini_days(order: Order) -> int:
    # The voucher must run out before the order does: a Checkout Session lives a day, the
    # voucher N more days (to the end of that day in Japan), so two days are kept spare.
    # Computed from the order alone, so a second request repeats the first exactly and
    # Stripe's idempotency answers it with the same session.
    return (order.expires_at - order.created_at).days - 2


def create_checkout(
    gateway: StripeGateway,
    session: Session,
    order: Order,
    *,
    success_url: str,
    cancel_url: str,
    locale: str = "auto",
) -> CheckoutStart:
    """A Checkout Session for a pending Stripe order, its id kept on the order (flushed).

    Asking again for the same order gets its session while that is open; two first
    requests at once make one session (one idempotency key per order). Raises Conflict for
    an order that cannot be paid through Stripe now (or whose konbini voucher is already
    issued), and PaymentUnavailable when Stripe does not answer.
    """
    if order.payment_method is not PaymentMethod.STRIPE or order.status is not OrderStatus.PENDING:
        raise Conflict(_l("This order cannot be paid online."))
    if order.provider_reference:
        return _existing_checkout(gateway, order.provider_reference)
    lines = _line_items(order)
    total = sum(line["quantity"] * line["price_data"]["unit_amount"] for line in lines)
    if total != order.total_yen or total <= 0:
        # An order's total is the sum of its lines; anything else is a bug to stop on.
        logger.error(
            "order %s: lines add up to %d, total is %d", order.number, total, order.total_yen
        )
        raise Conflict(_l("This order cannot be paid online."))
    methods = ["card"]
    konbini_days = _konbini_days(order)
    options: dict[str, Any] = {}
    if konbini_days >= 1:
        methods.append("konbini")
        options["konbini"] = {"expires_after_days": min(60, konbini_days)}
    metadata = {"order_id": str(order.id), "order_number": order.number}
    params: dict[str, Any] = {
        "mode": "payment",
        "currency": CURRENCY,
        "line_items": lines,
        "payment_method_types": methods,
        "client_reference_id": order.number,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "locale": locale,
    }
    if options:
        params["payment_method_options"] = options
    try:
        checkout = gateway.client.v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]  # built as a plain dict, checked by Stripe
            {"idempotency_key": f"photogate-checkout-{order.number}"},
        )
    except stripe.StripeError as error:
        logger.warning("Stripe refused a Checkout Session for %s: %s", order.number, error)
        raise PaymentUnavailable(
            _l("The payment service is not available just now. Please try again.")
        ) from None
    if not checkout.id or not checkout.url:
        raise PaymentUnavailable(
            _l("The payment service is not available just now. Please try again.")
        )
    order.provider_reference = checkout.id
    session.flush()
    return CheckoutStart(session_id=checkout.id, url=checkout.url)


def _existing_checkout(gateway: StripeGateway, session_id: str) -> CheckoutStart:
    try:
        checkout = gateway.client.v1.checkout.sessions.retrieve(session_id)
    except stripe.StripeError as error:
        logger.warning("Stripe did not return Checkout Session %s: %s", session_id, error)
        raise PaymentUnavailable(
            _l("The payment service is not available just now. Please try again.")
        ) from None
    if checkout.status != "open" or not checkout.url:
        # Complete but unpaid: the konbini voucher is out and the money is on its way.
        raise Conflict(
            _l("The payment of this order is under way. Follow the payment instructions sent.")
        )
    return CheckoutStart(session_id=checkout.id, url=checkout.url)


# -- refunds --------------------------------------------------------------------------------


def refund_payment(
    gateway: StripeGateway, session: Session, order: Order, *, now: dt.datetime, actor: Actor
) -> bool:
    """Give a paid Stripe order's money back through Stripe, then mark it refunded and
    revoke its entitlements (flushed); False when another request refunded it first.

    The refund carries one idempotency key per order, so a double click or a retry after a
    failed commit refunds once.  Raises Conflict for an order that is not a paid Stripe
    order, PaymentUnavailable when Stripe does not refund (nothing is changed then).
    """
    if (
        order.payment_method is not PaymentMethod.STRIPE
        or order.status is not OrderStatus.PAID
        or not order.provider_reference
    ):
        raise Conflict(_l("Only a paid card or konbini order can be refunded here."))
    try:
        checkout = gateway.client.v1.checkout.sessions.retrieve(order.provider_reference)
        payment_intent = checkout.payment_intent
        intent_id = payment_intent if isinstance(payment_intent, str) else None
        if payment_intent is not None and not isinstance(payment_intent, str):
            intent_id = payment_intent.id
        if not intent_id:
            raise Conflict(_l("Stripe has no payment for this order to refund."))
        refund = gateway.client.v1.refunds.create(
            {
                "payment_intent": intent_id,
                "metadata": {"order_id": str(order.id), "order_number": order.number},
            },
            {"idempotency_key": f"photogate-refund-{order.number}"},
        )
    except stripe.StripeError as error:
        logger.warning("Stripe refused the refund of %s: %s", order.number, error)
        raise PaymentUnavailable(
            _l("The payment service did not refund this order. Please try again.")
        ) from None
    if refund.status in ("failed", "canceled"):
        logger.warning("Stripe refund %s of %s is %s", refund.id, order.number, refund.status)
        raise PaymentUnavailable(_l("The payment service did not refund this order."))
    return refund_order(session, order, now=now, actor=actor)


# -- webhooks -------------------------------------------------------------------------------


def parse_webhook(gateway: StripeGateway, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event in a webhook body, after checking Stripe's signature (and its age);
    BadWebhook when either fails."""
    try:
        event: stripe.Event = stripe.Webhook.construct_event(
            payload, signature, gateway.webhook_secret
        )
        values: dict[str, Any] = event.to_dict()
    except stripe.SignatureVerificationError:
        raise BadWebhook(_l("The signature of this notification does not verify.")) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        # Not UTF-8, not JSON, or JSON that is not an event (the signature was good).
        raise BadWebhook(_l("This notification is not a Stripe event.")) from None
    if not isinstance(values.get("id"), str) or not isinstance(values.get("type"), str):
        raise BadWebhook(_l("This notification is not a Stripe event."))
    return values


@dataclass(frozen=True)
class WebhookResult:
    """What a notification did; ``replayed`` when it had been received before, and
    ``alert`` the audit action when someone must look at it (money that does not fit)."""

    outcome: str
    order: Order | None = None
    replayed: bool = False
    alert: str | None = None


def _checkout_object(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping) or obj.get("object") != "checkout.session":
        return None
    return obj


def _order_of(session: Session, checkout: Mapping[str, Any]) -> Order | None:
    session_id = checkout.get("id")
    if isinstance(session_id, str) and session_id:
        order = session.scalar(select(Order).where(Order.provider_reference == session_id))
        if order is not None:
            return order
    # The session was made but its id never committed here (the request failed after
    # Stripe answered): the metadata this application set names the order.
    metadata = checkout.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    order_id, number = metadata.get("order_id"), metadata.get("order_number")
    if not isinstance(order_id, str) or not order_id.isdigit() or not isinstance(number, str):
        return None
    order = session.scalar(
        select(Order).where(Order.id == int(order_id)).options(selectinload(Order.items))
    )
    if order is None or order.number != number or order.provider_reference is not None:
        return None
    return order


def _record_outcome(
    session: Session,
    payment_event: PaymentEvent,
    outcome: str,
    order: Order | None,
    alert: str | None = None,
) -> WebhookResult:
    payment_event.outcome = outcome[:200]
    payment_event.order_id = order.id if order is not None else None
    session.flush()
    return WebhookResult(outcome=outcome, order=order, alert=alert)


def handle_event(session: Session, event: Mapping[str, Any], now: dt.datetime) -> WebhookResult:
    """Apply a verified Stripe event to its order, once (flushed; the caller commits).

    The event is recorded before anything else: a replay (or a second delivery racing the
    first) finds it and changes nothing.  An event whose amount or currency is not the
    order's changes nothing either; it is recorded and logged, and the result carries an
    ``alert`` for the audit log.
    """
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id:
        raise BadWebhook(_l("This notification is not a Stripe event."))
    payment_event = PaymentEvent(
        provider=PaymentMethod.STRIPE,
        event_id=event_id[:255],
        event_type=event_type[:100],
        outcome="received",
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(payment_event)
            session.flush()
    except IntegrityError:
        logger.info("Stripe event %s received again; nothing changed", event_id)
        return WebhookResult(outcome="replayed", replayed=True)
    if event_type not in HANDLED_EVENTS:
        return _record_outcome(session, payment_event, "ignored: event type", None)
    checkout = _checkout_object(event)
    if checkout is None:
        # Signed by Stripe, so retrying will not improve it: kept, answered, ignored.
        return _record_outcome(session, payment_event, "ignored: not a Checkout Session", None)
    order = _order_of(session, checkout)
    if order is None or order.payment_method is not PaymentMethod.STRIPE:
        logger.warning("Stripe event %s names no Stripe order here", event_id)
        return _record_outcome(session, payment_event, "ignored: unknown order", None)
    amount, currency = checkout.get("amount_total"), checkout.get("currency")
    if amount != order.total_yen or not isinstance(currency, str) or currency != CURRENCY:
        outcome = f"ignored: amount differs ({amount!r} {currency!r}, order {order.total_yen} jpy)"
        logger.warning("Stripe event %s for order %s: %s", event_id, order.number, outcome)
        return _record_outcome(
            session, payment_event, outcome, order, alert="orders.payment_mismatch"
        )
    session_id = checkout.get("id")
    if order.provider_reference is None and isinstance(session_id, str) and session_id:
        # Found by its metadata: keep the session, which a refund will need.
        order.provider_reference = session_id[:255]
        session.flush()
    outcome, alert = _apply(session, order, event_type, checkout, now)
    return _record_outcome(session, payment_event, outcome, order, alert)


def _apply(
    session: Session, order: Order, event_type: str, checkout: Mapping[str, Any], now: dt.datetime
) -> tuple[str, str | None]:
    if event_type == "checkout.session.completed":
        status = checkout.get("payment_status")
        if status != "paid":
            # Konbini: the voucher is issued; the money comes with async_payment_succeeded.
            return f"awaiting payment ({status})", None
        return _settle(session, order, "card", now)
    if event_type == "checkout.session.async_payment_succeeded":
        return _settle(session, order, "konbini", now)
    # async_payment_failed (the voucher ran out) or expired (never paid).
    if cancel_order(session, order, now=now):
        return "cancelled", None
    return f"ignored: order is {order.status.value}", None


def _settle(session: Session, order: Order, via: str, now: dt.datetime) -> tuple[str, str | None]:
    if settle_paid(session, order, via=via, now=now):
        return "paid", None
    if order.status is OrderStatus.PAID:
        return "ignored: already paid", None
    # The money arrived for an order that expired or was cancelled meanwhile: it must go
    # back by hand, so the school finds it in the audit log.
    logger.warning("Stripe payment for %s order %s", order.status.value, order.number)
    return f"ignored: paid while {order.status.value}, refund needed", "orders.paid_after_close"
