"""Who may do what in the studio; each function answers one question.

Photographers reach only the events they are assigned to; any other event is answered as
if it did not exist (404).  School administrators act on their own school's events,
operators on every event.  Views raise with :func:`app.auth.policies.require`.
"""

from __future__ import annotations

from app.auth.models import StaffRole, StaffUser
from app.auth.policies import Permission, has_permission
from app.gallery.models import Event, Photo


def _active(user: StaffUser | None) -> bool:
    return user is not None and user.is_active


def is_assigned(user: StaffUser | None, event: Event) -> bool:
    """Whether ``user`` is one of the event's photographers."""
    return user is not None and any(p.id == user.id for p in event.photographers)


def manages_school(user: StaffUser | None, school_id: int) -> bool:
    """Operators manage every school; a school administrator only their own."""
    if not _active(user) or user is None:
        return False
    if user.role is StaffRole.OPERATOR:
        return True
    return user.role is StaffRole.SCHOOL_ADMIN and user.school_id == school_id


def can_use_studio(user: StaffUser | None) -> bool:
    """Any active staff member has a studio page (what it lists depends on the role)."""
    return _active(user)


def knows_event(user: StaffUser | None, event: Event) -> bool:
    """Whether the event is visible at all; everyone else gets a 404."""
    return manages_school(user, event.school_id) or (_active(user) and is_assigned(user, event))


def can_upload_to_event(user: StaffUser | None, event: Event) -> bool:
    """An active photographer assigned to the event."""
    return (
        has_permission(user, Permission.EVENTS_UPLOAD)
        and user is not None
        and user.role is StaffRole.PHOTOGRAPHER
        and is_assigned(user, event)
    )


def can_create_album(user: StaffUser | None, event: Event) -> bool:
    """The event's photographers and the school's administrators organise albums."""
    return can_upload_to_event(user, event) or manages_school(user, event.school_id)


def can_retry_photo(user: StaffUser | None, photo: Photo) -> bool:
    """Whoever may upload to the photo's event, or manages its school."""
    return can_upload_to_event(user, photo.event) or manages_school(user, photo.event.school_id)


def can_moderate_photos(user: StaffUser | None, event: Event) -> bool:
    """Withhold and release photos, hold an event for review, set its retention."""
    return manages_school(user, event.school_id)


def can_assign_photographers(user: StaffUser | None, event: Event) -> bool:
    """The school's administrators and operators choose who photographs an event."""
    return manages_school(user, event.school_id)


def can_manage_api_tokens(user: StaffUser | None) -> bool:
    """API tokens exist for uploading, so only photographers have them."""
    return _active(user) and user is not None and user.role is StaffRole.PHOTOGRAPHER
