"""Prices, the family's cart, placing an order, and what happens to it afterwards.

Prices, totals and the family always come from the server: a form names a photo, a product
and a quantity, nothing else. Every change of an order's status is a conditional UPDATE
(``… WHERE status = 'pending'``), so a double click, two administrators at once, or a payment
notification racing a cancellation change it once; entitlements are granted in the same
transaction as the payment that earns them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from app.auth.models import Guardian
from app.auth.policies import Actor, actor_id
from app.db import changed_rows
from app.errors import Conflict, Invalid, NotFound
from app.i18n import lazy_gettext as _l
from app.orders.models import (
    CartItem,
    Entitlement,
    Order,
    OrderItem,
    OrderStatus,
    PaymentMethod,
    Price,
    PriceList,
    Product,
)
from app.orders.receipts import tax_included
from app.photos.models import Event, Photo
from app.photos.queries import for_family, on_sale, released, visible_photo
from app.schools.models import Family

#: More prints of one photo in one order than a family plausibly wants is a typo.
MAX_PRINT_QUANTITY = 20
MAX_CART_LINES = 300
#: The highest price the forms accept, in yen (a typo guard, and far inside INTEGER).
MAX_PRICE_YEN = 1_000_000
_NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


#: What each product is called on pages and receipts (translated when shown).
PRODUCT_LABELS: dict[Product, str] = {
    Product.DIGITAL: _l("Download"),
    Product.PRINT_L: _l("Print, L size"),
    Product.PRINT_2L: _l("Print, 2L size"),
    Product.PRINT_6GIRI: _l("Print, 6-giri"),
    Product.PRINT_A4: _l("Print, A4"),
}


def product_label(product: Product) -> str:
    """What the product is called, in the current language."""
    return str(PRODUCT_LABELS[product])


# -- prices --------------------------------------------------------------------------


def price_list_of(session: Session, event_id: int) -> PriceList | None:
    """The event's price list with its prices, or None while it has none."""
    return session.scalar(
        select(PriceList)
        .where(PriceList.event_id == event_id)
        .options(selectinload(PriceList.prices))
    )


def set_prices(
    session: Session,
    actor: Actor,
    event: Event,
    amounts: Mapping[Product, int | None],
    *,
    downloads_allowed: int,
    download_days: int,
    now: dt.datetime,
) -> PriceList:
    """Replace the event's prices (None: not sold) and download terms (flushed).

    Orders already placed keep the prices they were placed at; entitlements already
    granted keep their terms."""
    for product, amount in amounts.items():
        if amount is not None and not 0 < amount <= MAX_PRICE_YEN:
            raise Invalid(
                _l(
                    "A price must be between 1 and %(most)d yen (%(product)s).",
                    most=MAX_PRICE_YEN,
                    product=product_label(product),
                )
            )
    if not 1 <= downloads_allowed <= 20:
        raise Invalid(_l("Downloads per photo must be between 1 and 20."))
    if not 1 <= download_days <= 365:
        raise Invalid(_l("The download period must be between 1 and 365 days."))
    price_list = price_list_of(session, event.id)
    if price_list is None:
        price_list = PriceList(event_id=event.id)
        session.add(price_list)
    price_list.downloads_allowed = downloads_allowed
    price_list.download_days = download_days
    price_list.updated_at = now
    price_list.updated_by_id = actor_id(actor)
    kept = {price.product: price for price in price_list.prices}
    for product in Product:
        amount = amounts.get(product)
        existing = kept.get(product)
        if amount is None:
            if existing is not None:
                price_list.prices.remove(existing)
        elif existing is not None:
            existing.amount_yen = amount
        else:
            price_list.prices.append(Price(product=product, amount_yen=amount))
    session.flush()
    return price_list


# -- the cart ------------------------------------------------------------------------


@dataclass(frozen=True)
class CartLine:
    item: CartItem
    photo: Photo
    unit_price_yen: int

    @property
    def line_total_yen(self) -> int:
        return self.unit_price_yen * self.item.quantity


@dataclass(frozen=True)
class Cart:
    """The family's cart priced now; lines whose photo or price went away are set apart."""

    lines: list[CartLine]
    unavailable: list[CartItem]

    @property
    def total_yen(self) -> int:
        return sum(line.line_total_yen for line in self.lines)

    @property
    def tax_yen(self) -> int:
        return tax_included(self.total_yen)

    @property
    def count(self) -> int:
        return sum(line.item.quantity for line in self.lines)


def _price_lists(session: Session, event_ids: set[int]) -> dict[int, PriceList]:
    if not event_ids:
        return {}
    lists = session.scalars(
        select(PriceList)
        .where(PriceList.event_id.in_(event_ids))
        .options(selectinload(PriceList.prices))
    ).all()
    return {price_list.event_id: price_list for price_list in lists}


def current_cart(session: Session, family: Family, now: dt.datetime) -> Cart:
    """The family's cart, each line at today's price, if its photo is still for sale."""
    items = session.scalars(
        select(CartItem)
        .where(CartItem.family_id == family.id)
        .options(joinedload(CartItem.photo))
        .order_by(CartItem.id)
    ).all()
    if not items:
        return Cart(lines=[], unavailable=[])
    visible_ids = set(
        session.scalars(
            select(Photo.id).where(
                Photo.id.in_([item.photo_id for item in items]),
                released(),
                Photo.event_id.in_(
                    select(Event.id).where(for_family(family.id, family.school_id), on_sale(now))
                ),
            )
        )
    )
    prices = _price_lists(session, {item.photo.event_id for item in items})
    lines: list[CartLine] = []
    unavailable: list[CartItem] = []
    for item in items:
        price_list = prices.get(item.photo.event_id)
        amount = price_list.price_of(item.product) if price_list is not None else None
        if item.photo_id in visible_ids and amount is not None:
            lines.append(CartLine(item=item, photo=item.photo, unit_price_yen=amount))
        else:
            unavailable.append(item)
    return Cart(lines=lines, unavailable=unavailable)


def add_to_cart(
    session: Session,
    family: Family,
    guardian: Guardian,
    *,
    photo_id: int,
    product: Product,
    quantity: int,
    now: dt.datetime,
) -> CartItem:
    """Put a photo in the family's cart (flushed). A photo the family may not see is not
    found; a download is bought once, so adding it again changes nothing; prints add up."""
    photo = visible_photo(session, family.id, family.school_id, photo_id, now)
    if photo is None:
        raise NotFound()
    price_list = price_list_of(session, photo.event_id)
    if price_list is None or price_list.price_of(product) is None:
        raise Invalid(_l("This photo is not sold as %(product)s.", product=product_label(product)))
    if not 1 <= quantity <= MAX_PRINT_QUANTITY:
        raise Invalid(_l("Choose between 1 and %(most)d.", most=MAX_PRINT_QUANTITY))
    if product is Product.DIGITAL:
        quantity = 1
    query = select(CartItem).where(
        CartItem.family_id == family.id,
        CartItem.photo_id == photo.id,
        CartItem.product == product,
    )
    existing = session.scalar(query)
    if existing is None:
        lines = session.scalar(
            select(func.count()).select_from(CartItem).where(CartItem.family_id == family.id)
        )
        if (lines or 0) >= MAX_CART_LINES:
            raise Conflict(_l("The cart is full. Order what is in it first."))
        item = CartItem(
            family_id=family.id,
            photo_id=photo.id,
            product=product,
            quantity=quantity,
            added_by_id=guardian.id,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(item)
                session.flush()
        except IntegrityError:
            # The other guardian (or another tab) added the same line a moment ago.
            existing = session.scalar(query)
            if existing is None:
                raise
        else:
            return item
    if product.is_print:
        existing.quantity = min(MAX_PRINT_QUANTITY, existing.quantity + quantity)
        session.flush()
    return existing


def _family_item(session: Session, family: Family, item_id: int) -> CartItem:
    item = session.get(CartItem, item_id)
    if item is None or item.family_id != family.id:
        raise NotFound()
    return item


def set_quantity(session: Session, family: Family, item_id: int, quantity: int) -> CartItem:
    """Change how many prints a cart line holds (flushed); downloads stay at one."""
    item = _family_item(session, family, item_id)
    if not 1 <= quantity <= MAX_PRINT_QUANTITY:
        raise Invalid(_l("Choose between 1 and %(most)d.", most=MAX_PRINT_QUANTITY))
    if item.product.is_print:
        item.quantity = quantity
        session.flush()
    return item


def remove_from_cart(session: Session, family: Family, item_id: int) -> None:
    """Take a line out of the family's cart (flushed)."""
    session.delete(_family_item(session, family, item_id))
    session.flush()


# -- placing an order ----------------------------------------------------------------


def new_order_number() -> str:
    """A reference to quote on the phone or a bank transfer: random, never a count."""
    chars = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))
    return f"PG-{chars[:4]}-{chars[4:]}"


def _existing(session: Session, family: Family, key: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.family_id == family.id, Order.idempotency_key == key)
    )


def place_order(
    session: Session,
    family: Family,
    guardian: Guardian,
    *,
    method: PaymentMethod,
    idempotency_key: str,
    confirmed_total_yen: int | None,
    pay_within: dt.timedelta,
    now: dt.datetime,
) -> tuple[Order, bool]:
    """Turn the cart into an order (flushed) and empty it; ``(order, created)``.

    The same ``idempotency_key`` (one per checkout form) finds the order its first submit
    made, so a double submit or a resubmitted page makes one order. ``confirmed_total_yen``
    is the total the family saw: if the cart changed since (a price, a photo withdrawn, the
    other guardian's additions), nothing is ordered and they are asked to look again.
    """
    if not 8 <= len(idempotency_key) <= 64:
        raise Invalid(_l("This form has expired. Open the cart again."))
    existing = _existing(session, family, idempotency_key)
    if existing is not None:
        return existing, False
    cart = current_cart(session, family, now)
    if cart.unavailable or (
        confirmed_total_yen is not None and confirmed_total_yen != cart.total_yen
    ):
        raise Conflict(
            _l("Your cart has changed since you looked at it. Check it and order again.")
        )
    if not cart.lines:
        raise Invalid(_l("Your cart is empty."))
    order = Order(
        number=new_order_number(),
        school_id=family.school_id,
        family_id=family.id,
        placed_by_id=guardian.id,
        idempotency_key=idempotency_key,
        status=OrderStatus.PENDING,
        payment_method=method,
        buyer_name=(guardian.display_name or family.display_name)[:200],
        total_yen=cart.total_yen,
        tax_yen=cart.tax_yen,
        created_at=now,
        expires_at=now + pay_within,
        items=[
            OrderItem(
                event_id=line.photo.event_id,
                photo_id=line.photo.id,
                product=line.item.product,
                quantity=line.item.quantity,
                unit_price_yen=line.unit_price_yen,
            )
            for line in cart.lines
        ],
    )
    try:
        with session.begin_nested():
            session.add(order)
            session.flush()
    except IntegrityError:
        # A second submit of the same form won the race; it made the order.
        winner = _existing(session, family, idempotency_key)
        if winner is None:
            raise
        return winner, False
    for line in cart.lines:
        session.delete(line.item)
    session.flush()
    return order, True


# -- what happens to an order ----------------------------------------------------------


def _transition(
    session: Session,
    order: Order,
    source: OrderStatus,
    target: OrderStatus,
    **values: object,
) -> bool:
    changed = changed_rows(
        session,
        update(Order)
        .where(Order.id == order.id, Order.status == source)
        .values(status=target, **values),
    )
    session.refresh(order)
    return changed == 1


def grant_entitlements(session: Session, order: Order, now: dt.datetime) -> list[Entitlement]:
    """One entitlement per digital line of a paid order, on the event's terms (flushed)."""
    terms = _price_lists(session, {item.event_id for item in order.items})
    granted = []
    for item in order.items:
        if item.product is not Product.DIGITAL:
            continue
        price_list = terms.get(item.event_id)
        allowed = price_list.downloads_allowed if price_list is not None else 3
        days = price_list.download_days if price_list is not None else 30
        entitlement = Entitlement(
            family_id=order.family_id,
            order_item_id=item.id,
            photo_id=item.photo_id,
            downloads_allowed=allowed,
            downloads_used=0,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        session.add(entitlement)
        granted.append(entitlement)
    session.flush()
    return granted


def settle_paid(
    session: Session, order: Order, *, via: str, now: dt.datetime, actor: Actor | None = None
) -> bool:
    """Record the payment of a pending order and grant its entitlements (flushed);
    False when it was not pending (already paid, cancelled, expired)."""
    if not _transition(
        session,
        order,
        OrderStatus.PENDING,
        OrderStatus.PAID,
        paid_at=now,
        paid_via=via[:32],
        handled_by_id=actor_id(actor) if actor is not None else None,
    ):
        return False
    grant_entitlements(session, order, now)
    return True


def cancel_order(
    session: Session, order: Order, *, now: dt.datetime, actor: Actor | None = None
) -> bool:
    """Cancel a pending order (flushed); False when it was no longer pending."""
    return _transition(
        session,
        order,
        OrderStatus.PENDING,
        OrderStatus.CANCELLED,
        closed_at=now,
        handled_by_id=actor_id(actor) if actor is not None else None,
    )


def refund_order(session: Session, order: Order, *, now: dt.datetime, actor: Actor) -> bool:
    """Mark a paid order refunded and revoke its entitlements (flushed); False when it was
    not paid. The money goes back through the payment provider or by hand, see views."""
    if not _transition(
        session,
        order,
        OrderStatus.PAID,
        OrderStatus.REFUNDED,
        closed_at=now,
        handled_by_id=actor_id(actor),
    ):
        return False
    revoke_entitlements(session, order, now)
    return True


def revoke_entitlements(session: Session, order: Order, now: dt.datetime) -> int:
    """Revoke what the order's lines allowed (flushed); how many were revoked."""
    item_ids = select(OrderItem.id).where(OrderItem.order_id == order.id)
    return changed_rows(
        session,
        update(Entitlement)
        .where(Entitlement.order_item_id.in_(item_ids), Entitlement.revoked_at.is_(None))
        .values(revoked_at=now),
    )


def expire_unpaid(session: Session, now: dt.datetime) -> int:
    """Orders still pending past their time expire (flushed); how many did."""
    return changed_rows(
        session,
        update(Order)
        .where(Order.status == OrderStatus.PENDING, Order.expires_at <= now)
        .values(status=OrderStatus.EXPIRED, closed_at=now),
    )


# -- what families and schools read ------------------------------------------------------


def family_order(session: Session, family_id: int, order_id: int) -> Order | None:
    """The family's order of this id with its lines, or None (another family's too)."""
    return session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.family_id == family_id)
        .options(selectinload(Order.items).joinedload(OrderItem.photo))
    )


def family_orders(session: Session, family_id: int) -> Sequence[Order]:
    """The family's orders, newest first."""
    return session.scalars(
        select(Order)
        .where(Order.family_id == family_id)
        .options(selectinload(Order.items))
        .order_by(Order.created_at.desc(), Order.id.desc())
    ).all()


def entitlements_of(session: Session, family_id: int) -> Sequence[Entitlement]:
    """Every entitlement of the family, newest first, with its photo and order line."""
    return session.scalars(
        select(Entitlement)
        .where(Entitlement.family_id == family_id)
        .options(
            joinedload(Entitlement.photo).joinedload(Photo.event),
            joinedload(Entitlement.order_item).joinedload(OrderItem.order),
        )
        .order_by(Entitlement.created_at.desc(), Entitlement.id.desc())
    ).all()


def bought_photo_ids(session: Session, family_id: int, event_ids: Sequence[int]) -> dict[int, int]:
    """How many photos of each event the family has paid for (one query)."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(OrderItem.event_id, func.count(func.distinct(OrderItem.photo_id)))
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.family_id == family_id,
            Order.status == OrderStatus.PAID,
            OrderItem.event_id.in_(list(event_ids)),
        )
        .group_by(OrderItem.event_id)
    )
    return {int(event_id): int(count) for event_id, count in rows}


def event_orders(session: Session, event: Event) -> Sequence[Order]:
    """Orders with a line of the event, newest first, with their families."""
    return session.scalars(
        select(Order)
        .where(Order.id.in_(select(OrderItem.order_id).where(OrderItem.event_id == event.id)))
        .options(joinedload(Order.family), selectinload(Order.items))
        .order_by(Order.created_at.desc(), Order.id.desc())
    ).all()


def school_order(session: Session, school_id: int, order_id: int) -> Order | None:
    """The school's order of this id, or None (another school's too)."""
    return session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.school_id == school_id)
        .options(selectinload(Order.items).joinedload(OrderItem.photo))
    )


@dataclass(frozen=True)
class EventSales:
    event: Event
    orders_paid: int
    orders_pending: int
    paid_yen: int
    refunded_yen: int


def school_sales(session: Session, school_id: int) -> list[EventSales]:
    """Per event of the school: paid and pending orders, money taken and refunded, from
    the lines of that event (two queries whatever the number of events)."""
    events = session.scalars(
        select(Event).where(Event.school_id == school_id).order_by(Event.event_date.desc())
    ).all()
    rows = session.execute(
        select(
            OrderItem.event_id,
            Order.status,
            func.count(func.distinct(Order.id)),
            func.sum(OrderItem.unit_price_yen * OrderItem.quantity),
        )
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.school_id == school_id)
        .group_by(OrderItem.event_id, Order.status)
    ).all()
    figures: dict[tuple[int, OrderStatus], tuple[int, int]] = {
        (int(event_id), OrderStatus(status)): (int(count), int(amount or 0))
        for event_id, status, count, amount in rows
    }

    def figure(event_id: int, status: OrderStatus) -> tuple[int, int]:
        return figures.get((event_id, status), (0, 0))

    return [
        EventSales(
            event=event,
            orders_paid=figure(event.id, OrderStatus.PAID)[0],
            orders_pending=figure(event.id, OrderStatus.PENDING)[0],
            paid_yen=figure(event.id, OrderStatus.PAID)[1],
            refunded_yen=figure(event.id, OrderStatus.REFUNDED)[1],
        )
        for event in events
    ]


def paid_print_lines(session: Session, event: Event) -> Sequence[OrderItem]:
    """The event's print lines of paid orders, in order (the lab's work)."""
    return session.scalars(
        select(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            OrderItem.event_id == event.id,
            OrderItem.product != Product.DIGITAL,
            Order.status == OrderStatus.PAID,
        )
        .options(joinedload(OrderItem.order).joinedload(Order.family))
        .order_by(OrderItem.order_id, OrderItem.id)
    ).all()
