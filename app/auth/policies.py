"""Who may do what: staff permissions by role, school scoping, the platform's own actor, and
``require``.

Each policy answers one question.  Feature policies (``app/<feature>/policies.py``) build
on :func:`has_permission` and :func:`manages_school`; views call :func:`require`, which
raises NotFound for objects the user must not even know exist and Forbidden otherwise.
"""

from __future__ import annotations

import enum
from typing import Final, TypeVar

from app.auth.models import StaffRole, StaffUser
from app.errors import Forbidden, NotFound

T = TypeVar("T")


class Permission(enum.StrEnum):
    STAFF_MANAGE = "staff:manage"
    #: Every school, not only one's own (operators).
    SCHOOLS_ALL = "schools:all"
    ROSTER_MANAGE = "roster:manage"
    INVITATIONS_MANAGE = "invitations:manage"
    FAMILIES_MANAGE = "families:manage"
    AUDIT_VIEW = "audit:view"
    STUDIO_USE = "studio:use"
    #: Upload to the events one is assigned to (photographers).
    EVENTS_UPLOAD = "events:upload"
    #: Albums, photographers, holds and retention of a school's events.
    EVENTS_MANAGE = "events:manage"
    #: Withhold and release photos.
    PHOTOS_MODERATE = "photos:moderate"
    #: Tokens for upload tools (photographers).
    API_TOKENS_MANAGE = "api_tokens:manage"
    #: A school's orders: mark paid, cancel, refund, sales reports.
    ORDERS_MANAGE = "orders:manage"
    #: Set the prices of events (school administrators for their school, photographers
    #: for the events they are assigned to).
    PRICES_MANAGE = "prices:manage"
    #: The print lab's export of an event's paid print lines.
    PRINTS_EXPORT = "prints:export"
    #: Open leak investigations and read their verdicts (school administrators, operators).
    INVESTIGATIONS_RUN = "investigations:run"


_SCHOOL_STAFF: Final = frozenset(
    {
        Permission.STAFF_MANAGE,
        Permission.ROSTER_MANAGE,
        Permission.INVITATIONS_MANAGE,
        Permission.FAMILIES_MANAGE,
        Permission.STUDIO_USE,
        Permission.EVENTS_MANAGE,
        Permission.PHOTOS_MODERATE,
        Permission.ORDERS_MANAGE,
        Permission.PRICES_MANAGE,
        Permission.PRINTS_EXPORT,
        Permission.INVESTIGATIONS_RUN,
    }
)

ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    # Operators run the platform; uploading is the photographers' work.
    StaffRole.OPERATOR: _SCHOOL_STAFF | {Permission.SCHOOLS_ALL, Permission.AUDIT_VIEW},
    StaffRole.SCHOOL_ADMIN: _SCHOOL_STAFF,
    StaffRole.PHOTOGRAPHER: frozenset(
        {
            Permission.STUDIO_USE,
            Permission.EVENTS_UPLOAD,
            Permission.API_TOKENS_MANAGE,
            Permission.PRICES_MANAGE,
            Permission.PRINTS_EXPORT,
        }
    ),
}


class SystemActor:
    """The platform itself: an operator's command line, the demo seed, a background job.

    Services take it where a staff member would act, so an authorization check is never
    skipped by passing nothing: the policies grant it everything, explicitly.
    """

    id: Final = None
    is_active: Final = True

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemActor()

#: Whoever performs a staff action.
Actor = StaffUser | SystemActor


def actor_id(actor: Actor) -> int | None:
    """The staff id to record (None for the platform itself)."""
    return actor.id if isinstance(actor, StaffUser) else None


def has_permission(user: Actor | None, permission: Permission) -> bool:
    """Whether an active staff member's role (or the platform) grants ``permission``."""
    if isinstance(user, SystemActor):
        return True
    return user is not None and user.is_active and permission in ROLE_PERMISSIONS[user.role]


def manages_school(user: Actor | None, school_id: int) -> bool:
    """Operators (and the platform) manage every school; a school administrator their own."""
    if isinstance(user, SystemActor):
        return True
    if user is None or not user.is_active:
        return False
    if has_permission(user, Permission.SCHOOLS_ALL):
        return True
    return user.role is StaffRole.SCHOOL_ADMIN and user.school_id == school_id


def can_act_for_school(user: Actor | None, school_id: int, permission: Permission) -> bool:
    """``permission`` for this school in particular."""
    return has_permission(user, permission) and manages_school(user, school_id)


def sees_every_school(user: Actor | None) -> bool:
    """Operators work across schools; everyone else within their own."""
    return has_permission(user, Permission.SCHOOLS_ALL)


def can_manage_staff(actor: StaffUser | None, target: StaffUser) -> bool:
    """Operators manage everyone else; school administrators the administrators of their school."""
    if not has_permission(actor, Permission.STAFF_MANAGE) or actor is None:
        return False
    if actor.id == target.id:
        return False
    if sees_every_school(actor):
        return True
    return target.role is StaffRole.SCHOOL_ADMIN and target.school_id == actor.school_id


def can_create_staff(actor: StaffUser | None, role: StaffRole, school_id: int | None) -> bool:
    """Operators create any role (school administrators need a school); school
    administrators only more administrators of their own school."""
    if not has_permission(actor, Permission.STAFF_MANAGE) or actor is None:
        return False
    if sees_every_school(actor):
        return (role is StaffRole.SCHOOL_ADMIN) == (school_id is not None)
    return role is StaffRole.SCHOOL_ADMIN and school_id == actor.school_id


def require(allowed: bool, *, hide: bool = False) -> None:
    """Raise unless ``allowed``: NotFound when the object's existence is itself a secret."""
    if allowed:
        return
    if hide:
        raise NotFound()
    raise Forbidden()


def require_found(obj: T | None, *, visible: bool = True) -> T:
    """``obj`` if it exists and may be known of; otherwise NotFound."""
    if obj is None or not visible:
        raise NotFound()
    return obj
