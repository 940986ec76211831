"""Prices, carts, orders, payments and entitlements.

Money is integer yen, always tax-inclusive (総額表示): a price is what the family pays. The
consumption tax inside a receipt's total is worked out once per receipt and rate, as the
qualified-invoice rules ask (see :mod:`app.orders.receipts`).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Guardian, StaffUser
from app.db import Base, str_enum, utcnow
from app.photos.models import Event, Photo
from app.schools.models import Family, School


class Product(enum.StrEnum):
    """What a family can buy of one photo."""

    DIGITAL = "digital"  # a full-resolution download, marked for that download
    PRINT_L = "print_l"  # L判 (89 by 127 mm)
    PRINT_2L = "print_2l"  # 2L判 (127 by 178 mm)
    PRINT_6GIRI = "print_6giri"  # 六切 (203 by 254 mm)
    PRINT_A4 = "print_a4"  # A4 (210 by 297 mm)

    @property
    def is_print(self) -> bool:
        return self is not Product.DIGITAL


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # placed, waiting for the payment
    PAID = "paid"
    CANCELLED = "cancelled"  # by the family or the school before it was paid
    EXPIRED = "expired"  # not paid in time
    REFUNDED = "refunded"  # paid, then refunded: entitlements revoked


class PaymentMethod(enum.StrEnum):
    INVOICE = "invoice"  # the school collects (bank transfer or cash) and marks it paid
    STRIPE = "stripe"  # Stripe Checkout: card, or konbini (which pays later)


class PriceList(Base):
    """What an event's photos cost, and what a bought download allows."""

    __tablename__ = "price_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    #: Downloads of one bought photo, and the days they may be used in from payment.
    downloads_allowed: Mapped[int] = mapped_column(Integer, default=3)
    download_days: Mapped[int] = mapped_column(Integer, default=30)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    event: Mapped[Event] = relationship()
    prices: Mapped[list[Price]] = relationship(
        back_populates="price_list", cascade="all, delete-orphan", order_by="Price.id"
    )

    def price_of(self, product: Product) -> int | None:
        """The tax-inclusive price in yen, or None when the product is not sold."""
        for price in self.prices:
            if price.product is product:
                return price.amount_yen
        return None


class Price(Base):
    __tablename__ = "prices"
    __table_args__ = (
        UniqueConstraint("price_list_id", "product"),
        CheckConstraint("amount_yen > 0", name="positive_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(
        ForeignKey("price_lists.id", ondelete="CASCADE"), index=True
    )
    product: Mapped[Product] = mapped_column(str_enum(Product, "product", 16))
    #: Tax-inclusive, in yen.
    amount_yen: Mapped[int] = mapped_column(Integer)

    price_list: Mapped[PriceList] = relationship(back_populates="prices")


class CartItem(Base):
    """A line in a family's cart: on the server, shared by the family's guardians."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("family_id", "photo_id", "product"),
        CheckConstraint("quantity > 0", name="positive_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    product: Mapped[Product] = mapped_column(str_enum(Product, "product", 16))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    photo: Mapped[Photo] = relationship()


class Order(Base):
    """A family's order: its lines and totals are fixed when it is placed."""

    __tablename__ = "orders"
    __table_args__ = (
        # A double submit or a resubmitted form finds the order the first one made.
        UniqueConstraint("family_id", "idempotency_key"),
        CheckConstraint("total_yen >= 0", name="non_negative_total"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The reference families and schools quote ("PG-7K3Q-9XWD"): random, not a count.
    number: Mapped[str] = mapped_column(String(16), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    placed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[OrderStatus] = mapped_column(
        str_enum(OrderStatus, "order_status", 16), default=OrderStatus.PENDING, index=True
    )
    payment_method: Mapped[PaymentMethod] = mapped_column(
        str_enum(PaymentMethod, "payment_method", 16)
    )
    #: The buyer named on the receipt, as it was when the order was placed.
    buyer_name: Mapped[str] = mapped_column(String(200))
    #: Tax-inclusive total, and the consumption tax inside it (10 %, rounded down once).
    total_yen: Mapped[int] = mapped_column(Integer)
    tax_yen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    #: An unpaid order expires at this time.
    expires_at: Mapped[dt.datetime]
    paid_at: Mapped[dt.datetime | None]
    #: How the money came (bank transfer, cash, card, konbini), as recorded.
    paid_via: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[dt.datetime | None]
    #: The staff member who marked it paid, cancelled or refunded it (None: the family or
    #: the payment provider).
    handled_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    #: The payment provider's reference (a Stripe Checkout Session id).
    provider_reference: Mapped[str | None] = mapped_column(String(255), unique=True)

    school: Mapped[School] = relationship()
    family: Mapped[Family] = relationship()
    placed_by: Mapped[Guardian | None] = relationship()
    handled_by: Mapped[StaffUser | None] = relationship()
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint("unit_price_yen > 0", name="positive_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    product: Mapped[Product] = mapped_column(str_enum(Product, "product", 16))
    quantity: Mapped[int] = mapped_column(Integer)
    #: Tax-inclusive, as it was when the order was placed.
    unit_price_yen: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")
    event: Mapped[Event] = relationship()
    photo: Mapped[Photo] = relationship()

    @property
    def line_total_yen(self) -> int:
        return self.unit_price_yen * self.quantity


class Entitlement(Base):
    """What a paid digital line allows: N downloads of one photo until a time."""

    __tablename__ = "entitlements"
    __table_args__ = (
        CheckConstraint("downloads_used <= downloads_allowed", name="within_allowance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    order_item_id: Mapped[int] = mapped_column(
        ForeignKey("order_items.id", ondelete="CASCADE"), unique=True
    )
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    downloads_allowed: Mapped[int] = mapped_column(Integer)
    downloads_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    #: Set when the order is refunded (or an investigation suspends the family).
    revoked_at: Mapped[dt.datetime | None]

    order_item: Mapped[OrderItem] = relationship()
    photo: Mapped[Photo] = relationship()

    @property
    def downloads_left(self) -> int:
        return max(0, self.downloads_allowed - self.downloads_used)

    def is_usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at and self.downloads_left > 0


class PaymentEvent(Base):
    """A notification from a payment provider, kept once: a replay finds it and changes
    nothing."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, "payment_method", 16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    #: What the notification did: "paid", "failed", "ignored: amount differs", …
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
