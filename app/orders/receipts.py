"""Receipts and invoices that meet the qualified-invoice rules (適格請求書).

Prices are tax-inclusive. A qualified invoice states the seller and its registration number,
the date, what was sold, the total per tax rate and the tax in it, and the buyer; the tax is
worked out once per invoice and rate (not per line) and rounded down — every line here is
at the standard 10 % rate.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from app.orders.models import Order, OrderItem, OrderStatus

#: The standard consumption tax rate, in percent; every product here is sold at it.
TAX_RATE_PERCENT = 10
REGISTRATION_NUMBER = re.compile(r"T\d{13}")


def tax_included(total_yen: int, rate_percent: int = TAX_RATE_PERCENT) -> int:
    """The consumption tax inside a tax-inclusive total, rounded down once."""
    if total_yen < 0:
        raise ValueError("a total is never negative")
    return total_yen * rate_percent // (100 + rate_percent)


def is_registration_number(value: str) -> bool:
    """A qualified-invoice issuer number: "T" and 13 digits."""
    return REGISTRATION_NUMBER.fullmatch(value) is not None


@dataclass(frozen=True)
class Receipt:
    """What the printable receipt (or, before payment, invoice) shows."""

    order: Order
    title_paid: bool
    seller: str
    registration: str | None
    issued_on: dt.date
    buyer: str
    lines: list[OrderItem]
    total_yen: int
    rate_percent: int
    tax_yen: int

    @property
    def is_qualified(self) -> bool:
        return self.registration is not None


def receipt_of(order: Order, now: dt.datetime) -> Receipt:
    """The receipt of a paid order, or the invoice of one still waiting for payment.

    The issue date is the payment date for a receipt, the order date for an invoice, in the
    school's time zone.
    """
    school = order.school
    zone = ZoneInfo(school.timezone)
    paid = order.status in (OrderStatus.PAID, OrderStatus.REFUNDED) and order.paid_at is not None
    moment = order.paid_at if paid and order.paid_at is not None else order.created_at
    registration = school.invoice_registration
    return Receipt(
        order=order,
        title_paid=paid,
        seller=school.seller_name or school.name,
        registration=registration
        if registration and is_registration_number(registration)
        else None,
        issued_on=(moment or now).astimezone(zone).date(),
        buyer=order.buyer_name,
        lines=list(order.items),
        total_yen=order.total_yen,
        rate_percent=TAX_RATE_PERCENT,
        tax_yen=order.tax_yen,
    )
