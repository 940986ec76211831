"""Who may do what with prices, orders and the print export; each function answers one
question.  Families see only their own orders (another family's answers 404); staff act on
their school's orders; photographers price and export the events they are assigned to."""

from __future__ import annotations

from app.auth.models import Guardian
from app.auth.policies import Actor, Permission, has_permission, manages_school
from app.orders.models import Order
from app.photos.models import Event
from app.studio.policies import is_assigned


def owns_order(guardian: Guardian | None, order: Order) -> bool:
    """A guardian of the family that placed the order."""
    return (
        guardian is not None
        and guardian.is_active
        and guardian.family_id is not None
        and guardian.family_id == order.family_id
    )


def can_manage_orders(user: Actor | None, school_id: int) -> bool:
    """Mark paid, cancel, refund and report: the school's administrators and operators."""
    return has_permission(user, Permission.ORDERS_MANAGE) and manages_school(user, school_id)


def can_set_prices(user: Actor | None, event: Event) -> bool:
    """The school's administrators, and the photographers assigned to the event."""
    if not has_permission(user, Permission.PRICES_MANAGE):
        return False
    return manages_school(user, event.school_id) or is_assigned(user, event)


def can_export_prints(user: Actor | None, event: Event) -> bool:
    """The print lab's list (and files) of an event: its photographers and the school."""
    if not has_permission(user, Permission.PRINTS_EXPORT):
        return False
    return manages_school(user, event.school_id) or is_assigned(user, event)
