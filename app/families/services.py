"""Claim-once invitations: issue (school or guardian), claim, revoke; guardians of a family.

A code is shown once and stored as an HMAC; claiming it binds the guardian to the family
and spends it in one conditional UPDATE, so two people racing for one code cannot both win.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.auth import throttle
from app.auth.models import Guardian, ThrottleScope
from app.auth.policies import Actor, Permission, actor_id, can_act_for_school
from app.auth.sessions import end_all_sessions
from app.auth.tokens import keyed_hash, new_code, normalise_code
from app.db import changed_rows
from app.errors import Conflict, Forbidden, Invalid
from app.families.models import Invitation, InvitationKind
from app.i18n import lazy_gettext as _l
from app.schools.models import Family, School

ROSTER_CODE_LENGTH = 12
GUARDIAN_CODE_LENGTH = 16
ROSTER_LIFETIME = dt.timedelta(days=30)
GUARDIAN_LIFETIME = dt.timedelta(days=7)
#: A family has at most two guardian accounts: the one the letter reached and one more.
MAX_GUARDIANS = 2


class InvitationRefused(Invalid):
    pass


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    family: Family
    #: The code in clear, for the letter or the link; never stored.
    code: str


def code_hash(key: bytes, code: str) -> str:
    return keyed_hash(key, "invitation", normalise_code(code))


def _issue(
    session: Session,
    family: Family,
    kind: InvitationKind,
    *,
    key: bytes,
    now: dt.datetime,
    staff: Actor | None = None,
    guardian: Guardian | None = None,
) -> IssuedInvitation:
    # One open invitation of each kind per family: a new letter replaces the old one.
    session.execute(
        update(Invitation)
        .where(
            Invitation.family_id == family.id,
            Invitation.kind == kind,
            Invitation.claimed_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    length = ROSTER_CODE_LENGTH if kind is InvitationKind.ROSTER else GUARDIAN_CODE_LENGTH
    lifetime = ROSTER_LIFETIME if kind is InvitationKind.ROSTER else GUARDIAN_LIFETIME
    code = new_code(length)
    invitation = Invitation(
        school_id=family.school_id,
        family_id=family.id,
        kind=kind,
        code_hash=code_hash(key, code),
        created_at=now,
        expires_at=now + lifetime,
        created_by_staff_id=actor_id(staff) if staff is not None else None,
        created_by_guardian_id=guardian.id if guardian is not None else None,
    )
    session.add(invitation)
    session.flush()
    return IssuedInvitation(invitation=invitation, family=family, code=code)


def issue_roster_invitations(
    session: Session,
    actor: Actor,
    school: School,
    family_ids: list[int],
    *,
    key: bytes,
    now: dt.datetime,
) -> list[IssuedInvitation]:
    """New letter codes for families of ``school`` (ids of other schools are ignored)."""
    if not can_act_for_school(actor, school.id, Permission.INVITATIONS_MANAGE):
        raise Forbidden()
    families = session.scalars(
        select(Family)
        .where(Family.school_id == school.id, Family.id.in_(family_ids))
        .order_by(Family.reference)
    )
    return [
        _issue(session, family, InvitationKind.ROSTER, key=key, now=now, staff=actor)
        for family in families
    ]


def guardian_count(session: Session, family_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Guardian).where(Guardian.family_id == family_id)
        )
        or 0
    )


def invite_guardian(
    session: Session, guardian: Guardian, *, key: bytes, now: dt.datetime
) -> IssuedInvitation:
    """A single-use link for a second guardian of the inviter's family."""
    if guardian.family is None:
        raise Invalid(str(_l("Join your family with the school's code first.")))
    if guardian_count(session, guardian.family.id) >= MAX_GUARDIANS:
        raise Conflict(str(_l("Your family already has two guardians.")))
    return _issue(
        session, guardian.family, InvitationKind.GUARDIAN, key=key, now=now, guardian=guardian
    )


def claim_invitation(
    session: Session, guardian: Guardian, code: str, *, key: bytes, now: dt.datetime
) -> Invitation:
    """Bind ``guardian`` to the code's family and spend the code (flushed), or raise.

    Raises Locked after repeated failures (per guardian), InvitationRefused with a message
    saying what is wrong, or Conflict when the guardian already belongs to a family.
    """
    if guardian.family_id is not None:
        raise Conflict(
            str(
                _l(
                    "You already belong to a family. A second code cannot be used with "
                    "this account."
                )
            )
        )
    throttle_key = f"guardian:{guardian.id}"
    throttle.check(session, ThrottleScope.INVITATION_CLAIM, throttle_key, now)
    invitation = session.scalar(
        select(Invitation).where(Invitation.code_hash == code_hash(key, code))
    )
    problem = None
    if invitation is None:
        problem = _l("This code is not valid. Check it against the letter and try again.")
    elif invitation.claimed_at is not None:
        problem = _l("This code has already been used.")
    elif invitation.revoked_at is not None:
        problem = _l("This code has been withdrawn. Ask the school for a new letter.")
    elif now >= invitation.expires_at:
        problem = _l("This code has expired. Ask the school for a new letter.")
    if problem is not None or invitation is None:
        lock = throttle.record_failure(session, ThrottleScope.INVITATION_CLAIM, throttle_key, now)
        if lock is not None:
            raise lock
        raise InvitationRefused(str(problem))
    if guardian_count(session, invitation.family_id) >= MAX_GUARDIANS:
        raise Conflict(str(_l("This family already has two guardians.")))
    spent = changed_rows(
        session,
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.claimed_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(claimed_at=now, claimed_by_guardian_id=guardian.id),
        synchronize="fetch",
    )
    if spent != 1:
        raise InvitationRefused(str(_l("This code has already been used.")))
    guardian.family_id = invitation.family_id
    guardian.joined_family_at = now
    throttle.clear(session, ThrottleScope.INVITATION_CLAIM, throttle_key)
    session.flush()
    session.refresh(guardian)
    return invitation


def revoke_invitation(session: Session, invitation: Invitation, *, now: dt.datetime) -> None:
    """Withdraw an unclaimed invitation (flushed); a claimed one stays as it is."""
    if invitation.claimed_at is None and invitation.revoked_at is None:
        invitation.revoked_at = now
        session.flush()


def remove_guardian(session: Session, guardian: Guardian, *, now: dt.datetime) -> None:
    """Take a guardian out of their family and end their sessions (flushed)."""
    guardian.family_id = None
    guardian.joined_family_at = None
    end_all_sessions(session, guardian, now=now, reason="removed_from_family")


def joined_by_guardian_invitation(session: Session, guardian: Guardian) -> Invitation | None:
    """The guardian invitation this guardian claimed to join their current family, if any."""
    return session.scalar(
        select(Invitation).where(
            Invitation.claimed_by_guardian_id == guardian.id,
            Invitation.family_id == guardian.family_id,
            Invitation.kind == InvitationKind.GUARDIAN,
        )
    )


def family_invitations(session: Session, family: Family) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.family_id == family.id)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def open_invitations(
    session: Session, family: Family, kind: InvitationKind, *, now: dt.datetime
) -> list[Invitation]:
    return [
        invitation
        for invitation in family_invitations(session, family)
        if invitation.kind is kind and invitation.is_open(now)
    ]


def school_families(session: Session, school: School) -> list[Family]:
    return list(
        session.scalars(
            select(Family).where(Family.school_id == school.id).order_by(Family.reference)
        )
    )
