"""Stripe's notifications about Checkout Sessions: ``POST /payments/stripe/webhook``.

Stripe signs each body with the endpoint's secret; that signature is the only credential.
No cookie is read or set (so there is nothing for a cross-site request to ride on and the
CSRF token is not asked for), and nothing is recorded before the signature verifies.
Stripe retries until it gets a 2xx, so every event that verified answers 200 — handled,
ignored or replayed — and a body that does not verify answers 400.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from app.audit.models import ActorKind
from app.audit.services import record
from app.errors import AppError, NotFound
from app.extensions import client_ip, csrf, limiter
from app.orders.stripe import BadWebhook, handle_event, parse_webhook
from app.web.context import db_session, keys, now, stripe_gateway

logger = logging.getLogger(__name__)

bp = Blueprint("stripe_webhooks", __name__)
csrf.exempt(bp)

#: Checkout Session events are a few kilobytes; anything far larger is not Stripe's.
MAX_WEBHOOK_BYTES = 256 * 1024


def _refusal(error: AppError) -> tuple[Response, int]:
    return jsonify(error=error.message or "refused"), error.status_code


@bp.post("/payments/stripe/webhook")
@limiter.limit("600/minute")
def receive() -> tuple[Response, int]:
    """Verify one notification and apply it to its order (answered as JSON)."""
    gateway = stripe_gateway()
    if gateway is None:
        return _refusal(NotFound())
    request.max_content_length = MAX_WEBHOOK_BYTES
    payload = request.get_data(cache=False)
    try:
        event = parse_webhook(gateway, payload, request.headers.get("Stripe-Signature"))
    except BadWebhook as error:
        logger.warning("Stripe webhook refused from %s: %s", client_ip(), error.message)
        return _refusal(error)
    session = db_session()
    try:
        result = handle_event(session, event, now())
    except BadWebhook as error:
        # Signed by Stripe but not a Checkout Session: nothing was kept.
        session.rollback()
        logger.warning("Stripe event %s not understood: %s", event.get("id"), error.message)
        return _refusal(error)
    if result.alert is not None and result.order is not None:
        record(
            session,
            key=keys().audit,
            action=result.alert,
            actor_kind=ActorKind.SYSTEM,
            subject=f"order:{result.order.id}",
            ip=client_ip(),
            details={"event_id": str(event["id"]), "outcome": result.outcome},
            now=now(),
        )
    session.commit()
    return jsonify(received=True, outcome=result.outcome), 200
