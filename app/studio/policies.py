"""Who may do what in the studio; each function answers one question.

Photographers reach only the events they are assigned to; any other event is answered as
if it did not exist (404).  School administrators act on their own school's events,
operators on every event.  Views raise with :func:`app.auth.policies.require`.
"""

from __future__ import annotations

from app.auth.models import StaffUser
from app.auth.policies import Actor, Permission, SystemActor, has_permission, manages_school
from app.photos.models import Event, Photo


def is_assigned(user: Actor | None, event: Event) -> bool:
    """Whether ``user`` is one of the event's photographers (the platform counts as one)."""
    if isinstance(user, SystemActor):
        return True
    return (
        isinstance(user, StaffUser)
        and user.is_active
        and any(p.id == user.id for p in event.photographers)
    )


def can_use_studio(user: Actor | None) -> bool:
    """Any active staff member has a studio page (what it lists depends on the role)."""
    return has_permission(user, Permission.STUDIO_USE)


def knows_event(user: Actor | None, event: Event) -> bool:
    """Whether the event is visible at all; everyone else gets a 404."""
    return manages_school(user, event.school_id) or is_assigned(user, event)


def can_upload_to_event(user: Actor | None, event: Event) -> bool:
    """An active photographer assigned to the event."""
    return has_permission(user, Permission.EVENTS_UPLOAD) and is_assigned(user, event)


def can_manage_event(user: Actor | None, event: Event) -> bool:
    """Photographers, holds and retention: the school's administrators and operators."""
    return has_permission(user, Permission.EVENTS_MANAGE) and manages_school(user, event.school_id)


def can_create_album(user: Actor | None, event: Event) -> bool:
    """The event's photographers and the school's administrators organise albums."""
    return can_upload_to_event(user, event) or can_manage_event(user, event)


def can_retry_photo(user: Actor | None, photo: Photo) -> bool:
    """Whoever may upload to the photo's event, or manages it."""
    return can_upload_to_event(user, photo.event) or can_manage_event(user, photo.event)


def can_moderate_photos(user: Actor | None, event: Event) -> bool:
    """Withhold and release photos, hold an event for review, set its retention."""
    return has_permission(user, Permission.PHOTOS_MODERATE) and manages_school(
        user, event.school_id
    )


def can_assign_photographers(user: Actor | None, event: Event) -> bool:
    """The school's administrators and operators choose who photographs an event."""
    return can_manage_event(user, event)


def can_manage_api_tokens(user: Actor | None) -> bool:
    """API tokens exist for uploading, so only photographers have them."""
    return has_permission(user, Permission.API_TOKENS_MANAGE)
