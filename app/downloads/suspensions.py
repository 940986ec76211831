"""A school pauses a family's downloads, and gives them back.

While a leak is looked into, the school may stop a family's downloads without taking
anything away: previews, the order history and prints already paid for stay; each
download (single or ZIP) is refused with a message that says the school paused it.
Lifting the suspension moves the end of every download period that was still running by
the time it lasted, so a family suspended by mistake loses nothing it paid for.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.downloads.models import DownloadSuspension
from app.errors import Conflict
from app.i18n import gettext as _
from app.orders.models import Entitlement


def suspension_in_force(session: Session, family_id: int) -> DownloadSuspension | None:
    """The family's unlifted suspension, if any."""
    return session.scalar(
        select(DownloadSuspension)
        .where(DownloadSuspension.family_id == family_id, DownloadSuspension.lifted_at.is_(None))
        .order_by(DownloadSuspension.id.desc())
        .limit(1)
    )


def suspend_downloads(
    session: Session,
    family_id: int,
    *,
    staff_id: int | None,
    reason: str,
    now: dt.datetime,
    investigation_id: int | None = None,
) -> DownloadSuspension:
    """Suspend the family's downloads (flushed); Conflict if they already are."""
    if suspension_in_force(session, family_id) is not None:
        raise Conflict(_("This family's downloads are already suspended."))
    suspension = DownloadSuspension(
        family_id=family_id,
        investigation_id=investigation_id,
        reason=reason[:200],
        created_at=now,
        created_by_id=staff_id,
    )
    session.add(suspension)
    session.flush()
    return suspension


def lift_suspension(
    session: Session, suspension: DownloadSuspension, *, staff_id: int | None, now: dt.datetime
) -> int:
    """Lift it and give back the time it lasted (flushed); the entitlements extended.

    Periods that had ended before the suspension began are left as they were; refunded
    purchases stay refunded.
    """
    if suspension.lifted_at is not None:
        raise Conflict(_("This suspension was already lifted."))
    began = suspension.created_at
    suspension.lifted_at = now
    suspension.lifted_by_id = staff_id
    extended = 0
    entitlements = session.scalars(
        select(Entitlement).where(
            Entitlement.family_id == suspension.family_id,
            Entitlement.revoked_at.is_(None),
            Entitlement.expires_at > began,
        )
    ).all()
    for entitlement in entitlements:
        # A purchase made during the suspension gets back only the time since it was made.
        lost = now - max(began, entitlement.created_at)
        if lost > dt.timedelta(0):
            entitlement.expires_at = entitlement.expires_at + lost
            extended += 1
    session.flush()
    return extended
