"""Who may do what: staff permissions by role, school scoping, and ``require``.

Each policy answers one question.  Views call :func:`require`, which raises NotFound for
objects the user must not even know exist and Forbidden otherwise.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from app.auth.models import Guardian, StaffRole, StaffUser
from app.errors import Forbidden, NotFound

T = TypeVar("T")


class Permission(enum.StrEnum):
    STAFF_MANAGE = "staff:manage"
    SCHOOLS_VIEW_ALL = "schools:view_all"
    ROSTER_MANAGE = "roster:manage"
    INVITATIONS_MANAGE = "invitations:manage"
    FAMILIES_MANAGE = "families:manage"
    AUDIT_VIEW = "audit:view"
    EVENTS_UPLOAD = "events:upload"


ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.OPERATOR: frozenset(Permission),
    StaffRole.SCHOOL_ADMIN: frozenset(
        {
            Permission.STAFF_MANAGE,
            Permission.ROSTER_MANAGE,
            Permission.INVITATIONS_MANAGE,
            Permission.FAMILIES_MANAGE,
        }
    ),
    StaffRole.PHOTOGRAPHER: frozenset({Permission.EVENTS_UPLOAD}),
}


def has_permission(user: StaffUser | None, permission: Permission) -> bool:
    """Whether an active staff member's role grants ``permission``."""
    return user is not None and user.is_active and permission in ROLE_PERMISSIONS[user.role]


def can_act_for_school(user: StaffUser | None, school_id: int, permission: Permission) -> bool:
    """Operators act for every school; a school administrator only for their own."""
    if not has_permission(user, permission) or user is None:
        return False
    return user.role is StaffRole.OPERATOR or user.school_id == school_id


def knows_school(user: StaffUser | None, school_id: int) -> bool:
    """Whether the school is visible at all (others are answered with 404)."""
    if user is None:
        return False
    return user.role is StaffRole.OPERATOR or user.school_id == school_id


def can_manage_staff(actor: StaffUser | None, target: StaffUser) -> bool:
    """Operators manage everyone else; school administrators the administrators of their school."""
    if not has_permission(actor, Permission.STAFF_MANAGE) or actor is None:
        return False
    if actor.id == target.id:
        return False
    if actor.role is StaffRole.OPERATOR:
        return True
    return target.role is StaffRole.SCHOOL_ADMIN and target.school_id == actor.school_id


def can_create_staff(actor: StaffUser | None, role: StaffRole, school_id: int | None) -> bool:
    if not has_permission(actor, Permission.STAFF_MANAGE) or actor is None:
        return False
    if actor.role is StaffRole.OPERATOR:
        return (role is StaffRole.SCHOOL_ADMIN) == (school_id is not None)
    return role is StaffRole.SCHOOL_ADMIN and school_id == actor.school_id


def guardian_in_family(guardian: Guardian | None, family_id: int) -> bool:
    return guardian is not None and guardian.family_id == family_id


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
