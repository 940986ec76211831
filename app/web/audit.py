"""The request side of the audit log: who did it and from where come from the request."""

from __future__ import annotations

from collections.abc import Mapping

from app.audit.models import ActorKind
from app.audit.services import DetailValue, record
from app.auth.models import Guardian, StaffUser
from app.auth.sessions import Account
from app.extensions import client_ip
from app.web.context import db_session, keys, now
from app.web.identity import current_account


def audit(
    action: str,
    *,
    subject: str = "",
    details: Mapping[str, DetailValue] | None = None,
    actor: Account | None = None,
) -> None:
    """Append an audit event for this request (the caller commits)."""
    who = actor if actor is not None else current_account()
    if isinstance(who, Guardian):
        kind, actor_id = ActorKind.GUARDIAN, who.id
    elif isinstance(who, StaffUser):
        kind, actor_id = ActorKind.STAFF, who.id
    else:
        kind, actor_id = ActorKind.ANONYMOUS, None
    record(
        db_session(),
        key=keys().audit,
        action=action,
        actor_kind=kind,
        actor_id=actor_id,
        subject=subject,
        ip=client_ip(),
        details=details,
        now=now(),
    )
