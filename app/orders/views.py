"""The family's cart, checkout, orders, receipts and downloads page; the school's orders,
sales and the print lab's list; an event's price list.

A family sees only its own cart lines and orders: another family's answer 404, like photos
it may not see. Prices, totals and the family are never read from a form.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.policies import Permission, has_permission, require, require_found
from app.downloads.suspensions import suspension_in_force
from app.errors import Conflict, Invalid, NotFound
from app.extensions import limiter
from app.i18n import current_locale
from app.i18n import gettext as _
from app.i18n import lazy_gettext as _l
from app.orders.exports import csv_text, print_list_rows, sales_rows
from app.orders.forms import (
    AddToCartForm,
    CheckoutForm,
    MarkPaidForm,
    PriceListForm,
    QuantityForm,
    SellerForm,
)
from app.orders.models import Order, OrderStatus, PaymentMethod, Product
from app.orders.policies import can_export_prints, can_manage_orders, can_set_prices
from app.orders.receipts import receipt_of
from app.orders.services import (
    PRODUCT_LABELS,
    add_to_cart,
    cancel_order,
    current_cart,
    entitlements_of,
    event_orders,
    family_order,
    family_orders,
    place_order,
    price_list_of,
    product_label,
    refund_order,
    remove_from_cart,
    school_order,
    school_sales,
    set_prices,
    set_quantity,
    settle_paid,
)
from app.orders.stripe import create_checkout, refund_payment
from app.photos.models import Event
from app.schools.models import School
from app.urls import safe_next
from app.web.actions import Audited, checked, commit_action
from app.web.audit import audit
from app.web.context import db_session, now, settings, stripe_gateway
from app.web.forms import ActionForm
from app.web.identity import (
    current_staff,
    family_member,
    guardian_required,
    rate_key,
    staff_or_403,
    staff_required,
)

bp = Blueprint("orders", __name__, template_folder="templates")


# -- template helpers --------------------------------------------------------------------


@bp.app_template_filter("yen")
def yen(amount: int) -> str:
    """¥1,234 — integer yen, tax included."""
    return f"¥{int(amount):,}"


@bp.app_template_filter("local_time")
def local_time(moment: dt.datetime | None, zone: str = "Asia/Tokyo") -> str:
    """A time in the school's time zone, to the minute."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("local_date")
def local_date(moment: dt.datetime | None, zone: str = "Asia/Tokyo") -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")


@bp.app_template_global("product_label")
def _product_label(product: Product) -> str:
    return product_label(product)


STATUS_LABELS = {
    OrderStatus.PENDING: _l("Waiting for payment"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.EXPIRED: _l("Expired (not paid in time)"),
    OrderStatus.REFUNDED: _l("Refunded"),
}


@bp.app_template_global("order_status")
def order_status(status: OrderStatus) -> str:
    return str(STATUS_LABELS[status])


def payment_methods() -> list[PaymentMethod]:
    """How families may pay here: the school invoice always; card and konbini through
    Stripe Checkout where the installation has Stripe set up."""
    methods = [PaymentMethod.INVOICE]
    if stripe_gateway() is not None:
        methods.append(PaymentMethod.STRIPE)
    return methods


def _to_stripe(order: Order) -> WerkzeugResponse:
    """Send the family to Stripe Checkout for a pending Stripe order (its session kept)."""
    gateway = stripe_gateway()
    if gateway is None:
        raise Conflict(_("Online payment is not available here just now."))
    start = create_checkout(
        gateway,
        db_session(),
        order,
        success_url=url_for("orders.show_order", order_id=order.id, _external=True),
        cancel_url=url_for("orders.show_order", order_id=order.id, _external=True),
        locale=current_locale(),
    )
    db_session().commit()
    return redirect(start.url, code=303)


# -- the family's side -------------------------------------------------------------------


def _refuse(subject: str) -> NotFound:
    audit("orders.refused", subject=subject, details={"route": request.endpoint or ""})
    db_session().commit()
    return NotFound()


@bp.post("/cart/items", endpoint="add_to_cart")
@guardian_required
@limiter.limit("120/minute", key_func=rate_key)
def add_to_cart_view() -> WerkzeugResponse:
    guardian, family = family_member()
    form = AddToCartForm()
    checked(form)
    photo_id = int(form.photo_id.data or 0)
    try:
        add_to_cart(
            db_session(),
            family,
            guardian,
            photo_id=photo_id,
            product=Product(form.product.data),
            quantity=int(form.quantity.data or 1),
            now=now(),
        )
    except NotFound:
        raise _refuse(f"photo:{photo_id}") from None
    back = safe_next(form.next.data, url_for("orders.show_cart"))
    return commit_action(back, _("Added to your cart."))


@bp.get("/cart")
@guardian_required
def show_cart() -> str:
    _guardian, family = family_member()
    cart = current_cart(db_session(), family, now())
    form = CheckoutForm(methods=payment_methods())
    form.idempotency_key.data = secrets.token_urlsafe(24)
    form.confirmed_total.data = str(cart.total_yen)
    return render_template(
        "orders/cart.html",
        cart=cart,
        form=form,
        quantity_form=QuantityForm(),
        action_form=ActionForm(),
    )


@bp.post("/cart/items/<id:item_id>/quantity")
@guardian_required
def change_quantity(item_id: int) -> WerkzeugResponse:
    _guardian, family = family_member()
    form = QuantityForm()
    checked(form)
    set_quantity(db_session(), family, item_id, int(form.quantity.data or 1))
    return commit_action(url_for("orders.show_cart"), _("The cart was updated."))


@bp.post("/cart/items/<id:item_id>/remove")
@guardian_required
def remove_item(item_id: int) -> WerkzeugResponse:
    _guardian, family = family_member()
    remove_from_cart(db_session(), family, item_id)
    return commit_action(url_for("orders.show_cart"), _("Removed from your cart."))


@bp.post("/checkout")
@guardian_required
@limiter.limit("20/minute", key_func=rate_key)
def checkout() -> WerkzeugResponse:
    guardian, family = family_member()
    methods = payment_methods()
    form = CheckoutForm(methods=methods)
    checked(form)
    method = PaymentMethod(form.method.data)
    if method not in methods:
        raise Invalid(_("Choose how to pay."))
    pay_within = dt.timedelta(days=settings().invoice_days)
    order, created = place_order(
        db_session(),
        family,
        guardian,
        method=method,
        idempotency_key=str(form.idempotency_key.data),
        confirmed_total_yen=int(str(form.confirmed_total.data)),
        pay_within=pay_within,
        now=now(),
    )
    target = url_for("orders.show_order", order_id=order.id)
    if created:
        response = commit_action(
            target,
            _("Thank you. Your order %(number)s is placed.", number=order.number),
            audited=Audited(
                "order.placed",
                f"order:{order.id}",
                {"number": order.number, "total_yen": order.total_yen, "method": method.value},
            ),
        )
    else:
        response = redirect(target, code=303)
    if order.payment_method is PaymentMethod.STRIPE and order.status is OrderStatus.PENDING:
        # The order is committed first: if Stripe does not answer, it waits on its page
        # with a "pay" button rather than being lost.
        return _to_stripe(order)
    return response


@bp.post("/orders/<id:order_id>/pay")
@guardian_required
@limiter.limit("20/minute", key_func=rate_key)
def pay(order_id: int) -> WerkzeugResponse:
    """Back to Stripe Checkout for an order not paid yet (the same session while open)."""
    return _to_stripe(_my_order(order_id))


def _my_order(order_id: int) -> Order:
    _guardian, family = family_member()
    order = family_order(db_session(), family.id, order_id)
    if order is None:
        raise _refuse(f"order:{order_id}")
    return order


@bp.get("/orders")
@guardian_required
def my_orders() -> str:
    _guardian, family = family_member()
    return render_template("orders/orders.html", orders=family_orders(db_session(), family.id))


@bp.get("/orders/<id:order_id>")
@guardian_required
def show_order(order_id: int) -> str:
    order = _my_order(order_id)
    return render_template("orders/order.html", order=order, form=ActionForm())


@bp.post("/orders/<id:order_id>/cancel")
@guardian_required
def cancel_my_order(order_id: int) -> WerkzeugResponse:
    order = _my_order(order_id)
    if order.payment_method is not PaymentMethod.INVOICE or not cancel_order(
        db_session(), order, now=now()
    ):
        raise Conflict(_("This order can no longer be cancelled."))
    return commit_action(
        url_for("orders.show_order", order_id=order.id),
        _("The order was cancelled."),
        audited=Audited("order.cancelled", f"order:{order.id}", {"by": "family"}),
    )


@bp.get("/orders/<id:order_id>/receipt")
@guardian_required
def receipt(order_id: int) -> str:
    order = _my_order(order_id)
    if order.status not in (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.REFUNDED):
        raise Conflict(_("A cancelled or expired order has no invoice or receipt."))
    return render_template("orders/receipt.html", receipt=receipt_of(order, now()))


def _download_endpoint() -> str | None:
    """Where a "Download" button posts, once downloads are part of the application."""
    endpoint = "downloads.ask"
    return endpoint if endpoint in current_app.view_functions else None


@bp.get("/orders/downloads")
@guardian_required
def entitlements() -> str:
    _guardian, family = family_member()
    held = entitlements_of(db_session(), family.id)
    moment = now()
    usable_events = {e.photo.event_id: e.photo.event for e in held if e.is_usable(moment)}
    return render_template(
        "orders/entitlements.html",
        entitlements=held,
        zip_events=sorted(usable_events.values(), key=lambda event: event.event_date),
        now=moment,
        form=ActionForm(),
        download_endpoint=_download_endpoint(),
        suspended=suspension_in_force(db_session(), family.id) is not None,
    )


# -- the school's side -------------------------------------------------------------------


def _school(school_id: int) -> School:
    """The school, if the signed-in staff member manages its orders (404 if not theirs)."""
    staff = current_staff()
    require(has_permission(staff, Permission.ORDERS_MANAGE))
    school = require_found(db_session().get(School, school_id))
    return require_found(school, visible=can_manage_orders(staff, school.id))


def _school_order(school: School, order_id: int) -> Order:
    return require_found(school_order(db_session(), school.id, order_id))


def _school_event(school: School, event_id: int) -> Event:
    event = require_found(db_session().get(Event, event_id))
    return require_found(event, visible=event.school_id == school.id)


@bp.get("/schools/<id:school_id>/sales")
@staff_required
def sales(school_id: int) -> str:
    school = _school(school_id)
    form = SellerForm(
        seller_name=school.seller_name, invoice_registration=school.invoice_registration
    )
    return render_template(
        "orders/sales.html",
        school=school,
        sales=school_sales(db_session(), school.id),
        seller_form=form,
    )


@bp.post("/schools/<id:school_id>/seller")
@staff_required
def set_seller(school_id: int) -> WerkzeugResponse:
    """The seller and registration number that the school's receipts state."""
    school = _school(school_id)
    form = SellerForm()
    checked(form)
    school.seller_name = (form.seller_name.data or "").strip()
    school.invoice_registration = (form.invoice_registration.data or "").strip() or None
    return commit_action(
        url_for("orders.sales", school_id=school.id),
        _("Receipts will name this seller."),
        audited=Audited(
            "school.seller_changed",
            f"school:{school.id}",
            {"seller": school.seller_name, "registration": school.invoice_registration or ""},
        ),
    )


def _csv_response(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/schools/<id:school_id>/sales.csv")
@staff_required
def sales_csv(school_id: int) -> Response:
    school = _school(school_id)
    return _csv_response(csv_text(sales_rows(db_session(), school.id)), f"sales-{school.slug}.csv")


@bp.get("/schools/<id:school_id>/events/<id:event_id>/orders")
@staff_required
def event_orders_view(school_id: int, event_id: int) -> str:
    school = _school(school_id)
    event = _school_event(school, event_id)
    return render_template(
        "orders/event_orders.html",
        school=school,
        event=event,
        orders=event_orders(db_session(), event),
    )


@bp.get("/schools/<id:school_id>/orders/<id:order_id>")
@staff_required
def school_order_view(school_id: int, order_id: int) -> str:
    school = _school(school_id)
    order = _school_order(school, order_id)
    return render_template(
        "orders/school_order.html",
        school=school,
        order=order,
        paid_form=MarkPaidForm(),
        form=ActionForm(),
    )


@bp.post("/schools/<id:school_id>/orders/<id:order_id>/paid")
@staff_required
def mark_paid(school_id: int, order_id: int) -> WerkzeugResponse:
    school = _school(school_id)
    order = _school_order(school, order_id)
    form = MarkPaidForm()
    checked(form)
    if order.payment_method is not PaymentMethod.INVOICE:
        raise Conflict(_("This order is paid through the payment provider, not by invoice."))
    if not settle_paid(
        db_session(), order, via=str(form.via.data), now=now(), actor=current_staff()
    ):
        raise Conflict(_("Only an order waiting for payment can be marked paid."))
    return commit_action(
        url_for("orders.school_order_view", school_id=school.id, order_id=order.id),
        _("Order %(number)s is marked paid; the family can download now.", number=order.number),
        audited=Audited(
            "order.paid",
            f"order:{order.id}",
            {"via": str(form.via.data), "total_yen": order.total_yen},
        ),
    )


@bp.post("/schools/<id:school_id>/orders/<id:order_id>/cancel")
@staff_required
def school_cancel(school_id: int, order_id: int) -> WerkzeugResponse:
    school = _school(school_id)
    order = _school_order(school, order_id)
    if not cancel_order(db_session(), order, now=now(), actor=current_staff()):
        raise Conflict(_("Only an order waiting for payment can be cancelled."))
    return commit_action(
        url_for("orders.school_order_view", school_id=school.id, order_id=order.id),
        _("Order %(number)s is cancelled.", number=order.number),
        audited=Audited("order.cancelled", f"order:{order.id}", {"by": "school"}),
    )


@bp.post("/schools/<id:school_id>/orders/<id:order_id>/refund")
@staff_required
def refund(school_id: int, order_id: int) -> WerkzeugResponse:
    school = _school(school_id)
    order = _school_order(school, order_id)
    staff = staff_or_403()
    gateway = stripe_gateway()
    if order.payment_method is PaymentMethod.STRIPE:
        if gateway is None:
            raise Conflict(_("Online payment is not set up here, so Stripe cannot refund."))
        refunded = refund_payment(gateway, db_session(), order, now=now(), actor=staff)
    else:
        refunded = refund_order(db_session(), order, now=now(), actor=staff)
    if not refunded:
        raise Conflict(_("Only a paid order can be refunded."))
    return commit_action(
        url_for("orders.school_order_view", school_id=school.id, order_id=order.id),
        _(
            "Order %(number)s is refunded and its downloads are revoked. "
            "A card or konbini payment goes back through Stripe; return an invoice payment "
            "to the family as it was paid.",
            number=order.number,
        ),
        audited=Audited("order.refunded", f"order:{order.id}", {"total_yen": order.total_yen}),
    )


# -- prices and the print lab --------------------------------------------------------------


def _priced_event(event_id: int, allowed: Any) -> Event:
    staff = current_staff()
    event = require_found(db_session().get(Event, event_id))
    # Someone who may not price or export it may not know the event exists either.
    return require_found(event, visible=bool(allowed(staff, event)))


@bp.route("/studio/events/<id:event_id>/prices", methods=["GET", "POST"])
@staff_required
def edit_prices(event_id: int) -> str | WerkzeugResponse:
    require(has_permission(current_staff(), Permission.PRICES_MANAGE))
    event = _priced_event(event_id, can_set_prices)
    price_list = price_list_of(db_session(), event.id)
    form = PriceListForm()
    if request.method == "GET" and price_list is not None:
        form.downloads_allowed.data = price_list.downloads_allowed
        form.download_days.data = price_list.download_days
        for product in Product:
            getattr(form, f"price_{product.value}").data = price_list.price_of(product)
    if request.method == "POST":
        checked(form)
        amounts = {product: getattr(form, f"price_{product.value}").data for product in Product}
        staff = staff_or_403()
        set_prices(
            db_session(),
            staff,
            event,
            amounts,
            downloads_allowed=int(form.downloads_allowed.data or 0),
            download_days=int(form.download_days.data or 0),
            now=now(),
        )
        return commit_action(
            url_for("orders.edit_prices", event_id=event.id),
            _("The prices are saved."),
            audited=Audited(
                "prices.updated",
                f"event:{event.id}",
                {product.value: amount or 0 for product, amount in amounts.items()},
            ),
        )
    return render_template(
        "orders/prices.html",
        event=event,
        form=form,
        products=list(Product),
        labels=PRODUCT_LABELS,
    )


@bp.get("/studio/events/<id:event_id>/prints.csv")
@staff_required
def print_list(event_id: int) -> Response:
    """The lab's list of an event's paid prints: order, family, photo, size, quantity."""
    require(has_permission(current_staff(), Permission.PRINTS_EXPORT))
    event = _priced_event(event_id, can_export_prints)
    rows = print_list_rows(db_session(), event)
    audit("prints.listed", subject=f"event:{event.id}", details={"lines": len(rows) - 1})
    db_session().commit()
    return _csv_response(csv_text(rows), f"prints-event-{event.id}.csv")
