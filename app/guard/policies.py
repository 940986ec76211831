"""Who may see and act on the guard's alerts: school administrators for their own school,
operators everywhere (alerts not tied to a school are the operators' alone)."""

from __future__ import annotations

from app.auth.policies import Actor, Permission, has_permission, manages_school, sees_every_school
from app.guard.models import GuardAlert


def can_use_guard(user: Actor | None) -> bool:
    """The guard's pages are for those who manage families."""
    return has_permission(user, Permission.FAMILIES_MANAGE)


def can_see_alert(user: Actor | None, alert: GuardAlert) -> bool:
    """An alert of one's own school (any alert for operators)."""
    if not can_use_guard(user):
        return False
    if alert.school_id is None:
        return sees_every_school(user)
    return manages_school(user, alert.school_id)
