"""Who may investigate, and which cases they may know of."""

from __future__ import annotations

from app.auth.models import StaffRole
from app.auth.policies import Actor, Permission, SystemActor, has_permission, sees_every_school
from app.investigate.models import Investigation


def can_investigate(user: Actor | None) -> bool:
    """School administrators (their own school) and operators (every school)."""
    if isinstance(user, SystemActor):
        return True
    if not has_permission(user, Permission.INVESTIGATIONS_RUN) or user is None:
        return False
    return sees_every_school(user) or (
        user.role is StaffRole.SCHOOL_ADMIN and user.school_id is not None
    )


def can_investigate_school(user: Actor | None, school_id: int | None) -> bool:
    """Whether ``user`` may search this school's photos (None: every school)."""
    if not can_investigate(user):
        return False
    if isinstance(user, SystemActor) or sees_every_school(user):
        return True
    return school_id is not None and user is not None and user.school_id == school_id


def knows_case(user: Actor | None, case: Investigation) -> bool:
    """A case is known to investigators of its school and to operators; anyone else gets 404."""
    return can_investigate_school(user, case.school_id)
