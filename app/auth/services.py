"""Accounts: guardians from verified OpenID identities; staff passwords, TOTP, recovery codes,
accounts and set-password links.

Services take the database session and the acting user, flush and never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from functools import cache

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.services import ip_prefix
from app.auth import throttle
from app.auth.models import (
    Guardian,
    RecoveryCode,
    SetPasswordLink,
    StaffRole,
    StaffUser,
    ThrottleScope,
    UserSession,
)
from app.auth.oidc import VerifiedIdentity
from app.auth.password_policy import password_problems
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.auth.policies import can_create_staff, can_manage_staff, sees_every_school
from app.auth.sessions import end_all_sessions
from app.auth.tokens import keyed_hash, new_code, new_token, normalise_code, sha256_hex
from app.auth.totp import (
    matching_step,
    needs_reseal,
    new_totp_secret,
    open_secret,
    seal_secret,
    staff_owner,
)
from app.db import changed_rows
from app.errors import Conflict, Forbidden, Invalid
from app.i18n import lazy_gettext as _l
from app.storage import KeyRing

RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 12
SET_PASSWORD_LINK_LIFETIME = dt.timedelta(hours=72)


class SignInFailed(Invalid):
    """Wrong e-mail or password: one message for both, so accounts cannot be enumerated."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(str(_l("The e-mail address or the password is not correct.")))


class CodeRefused(Invalid):
    def __init__(self) -> None:
        super().__init__(str(_l("That code is not valid. Codes work once.")))


def normalise_email(email: str) -> str:
    return email.strip().lower()


# -- guardians -----------------------------------------------------------------------------


def guardian_for_identity(
    session: Session, identity: VerifiedIdentity, *, now: dt.datetime
) -> Guardian:
    """The guardian with this (issuer, subject), created on first sign-in (flushed).

    Never looked up by e-mail: an address can be recycled or unverified, and a provider
    that lets users pick any address would otherwise hand out other people's accounts.
    """
    query = select(Guardian).where(
        Guardian.issuer == identity.issuer, Guardian.subject == identity.subject
    )
    guardian = session.scalar(query)
    if guardian is None:
        try:
            with session.begin_nested():
                guardian = Guardian(
                    issuer=identity.issuer,
                    subject=identity.subject,
                    display_name=identity.name,
                    email=identity.email,
                    session_version=1,
                    is_active=True,
                    created_at=now,
                )
                session.add(guardian)
        except IntegrityError:
            # A parallel first sign-in of the same person won the race.
            guardian = session.scalar(query)
            if guardian is None:
                raise
    else:
        # Display data only: kept fresh, never used to find anyone.
        guardian.display_name = identity.name or guardian.display_name
        guardian.email = identity.email or guardian.email
    session.flush()
    return guardian


# -- staff passwords -----------------------------------------------------------------------


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


#: Failures of one account in an hour, from all networks together, above which each network
#: gets a single free try before its own lock (the owner elsewhere is never locked out).
ACCOUNT_PRESSURE = 30


def authenticate_staff(
    session: Session, email: str, password: str, *, ip: str, now: dt.datetime
) -> StaffUser:
    """The staff member whose password this is, or raise SignInFailed / Locked.

    Failures lock the (account, network) pair that made them, with growing delays; an
    account failing from many networks at once only tightens that per-network allowance.
    Unknown addresses go through the same steps (throttle, an Argon2 verification of a
    dummy hash) so that neither the answer nor its timing tells whether an account exists.
    """
    address = normalise_email(email)
    key = f"{address}|{ip_prefix(ip)}"
    throttle.check(session, ThrottleScope.STAFF_PASSWORD, key, now)
    user = session.scalar(select(StaffUser).where(StaffUser.email == address))
    stored = user.password_hash if user is not None and user.password_hash else None
    matches = verify_password(stored or _dummy_hash(), password[:1024])
    if user is None or stored is None or not matches or not user.is_active:
        throttle.record_failure(session, ThrottleScope.STAFF_ACCOUNT, address, now)
        pressure = throttle.recent_failures(session, ThrottleScope.STAFF_ACCOUNT, address, now)
        lock = throttle.record_failure(
            session,
            ThrottleScope.STAFF_PASSWORD,
            key,
            now,
            free_failures=1 if pressure >= ACCOUNT_PRESSURE else None,
        )
        if lock is not None:
            raise lock
        raise SignInFailed()
    throttle.clear(session, ThrottleScope.STAFF_PASSWORD, key)
    if needs_rehash(stored):
        user.password_hash = hash_password(password)
    session.flush()
    return user


# -- TOTP and recovery codes ------------------------------------------------------------


def _recovery_hash(key: bytes, code: str) -> str:
    return keyed_hash(key, "recovery", normalise_code(code))


def verify_second_factor(
    session: Session,
    user: StaffUser,
    code: str,
    *,
    key: bytes,
    keyring: KeyRing,
    now: dt.datetime,
) -> str:
    """Accept a TOTP code (each time-step once) or an unused recovery code; return which.

    ``keyring`` opens the sealed TOTP seed; a seed stored before sealing, or under a
    retired key-encryption key, is sealed anew with the current one on success.
    """
    throttle.check(session, ThrottleScope.SECOND_FACTOR, str(user.id), now)
    typed = "".join(code.split())
    if user.totp_secret is not None:
        secret = open_secret(keyring, staff_owner(user.id), user.totp_secret)
        step = matching_step(secret, typed, now.timestamp(), user.totp_last_step)
        if step is not None:
            # Remembering the step is what makes a code single use.
            user.totp_last_step = step
            if needs_reseal(keyring, user.totp_secret):
                user.totp_secret = seal_secret(keyring, staff_owner(user.id), secret)
            throttle.clear(session, ThrottleScope.SECOND_FACTOR, str(user.id))
            session.flush()
            return "totp"
    if len(normalise_code(typed)) == RECOVERY_CODE_LENGTH:
        spent = changed_rows(
            session,
            update(RecoveryCode)
            .where(
                RecoveryCode.staff_user_id == user.id,
                RecoveryCode.code_hash == _recovery_hash(key, typed),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now),
        )
        if spent == 1:
            throttle.clear(session, ThrottleScope.SECOND_FACTOR, str(user.id))
            session.flush()
            return "recovery_code"
    lock = throttle.record_failure(session, ThrottleScope.SECOND_FACTOR, str(user.id), now)
    if lock is not None:
        raise lock
    raise CodeRefused()


def issue_recovery_codes(
    session: Session, user: StaffUser, *, key: bytes, now: dt.datetime
) -> list[str]:
    """Replace the user's recovery codes; the codes are returned once and stored hashed."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
    codes = [new_code(RECOVERY_CODE_LENGTH) for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(staff_user_id=user.id, code_hash=_recovery_hash(key, code), created_at=now)
        for code in codes
    )
    session.flush()
    return codes


def unused_recovery_codes(session: Session, user: StaffUser) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.staff_user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def offer_totp_enrolment(session: Session, record: UserSession, keyring: KeyRing) -> str:
    """A new TOTP seed for the staff member of an enrolment session, kept on the server
    (sealed, in the session row) until they confirm it; returns it to show once."""
    secret = new_totp_secret()
    record.pending_totp_secret = seal_secret(keyring, f"enrol:{record.id}", secret)
    session.flush()
    return secret


def offered_totp_secret(record: UserSession, keyring: KeyRing) -> str | None:
    """The seed offered to an enrolment session, if any."""
    if record.pending_totp_secret is None:
        return None
    return open_secret(keyring, f"enrol:{record.id}", record.pending_totp_secret)


def confirm_totp_enrolment(
    session: Session,
    user: StaffUser,
    secret: str,
    code: str,
    *,
    key: bytes,
    keyring: KeyRing,
    now: dt.datetime,
) -> list[str]:
    """Store ``secret`` (sealed) once the user proves their authenticator has it; return
    recovery codes."""
    step = matching_step(secret, "".join(code.split()), now.timestamp(), None)
    if step is None:
        raise CodeRefused()
    user.totp_secret = seal_secret(keyring, staff_owner(user.id), secret)
    user.totp_last_step = step
    return issue_recovery_codes(session, user, key=key, now=now)


# -- staff accounts ----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedLink:
    link: SetPasswordLink
    #: Shown once to whoever created it; only its hash is stored.
    token: str


def create_staff(
    session: Session,
    actor: StaffUser,
    *,
    email: str,
    display_name: str,
    role: StaffRole,
    school_id: int | None,
    now: dt.datetime,
) -> tuple[StaffUser, IssuedLink]:
    """A new staff account without a password, and the link to set one (flushed)."""
    if not can_create_staff(actor, role, school_id):
        raise Forbidden()
    address = normalise_email(email)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise Conflict(str(_l("A staff account with this e-mail address exists already.")))
    user = StaffUser(
        email=address,
        display_name=display_name.strip(),
        role=role,
        school_id=school_id,
        session_version=1,
        is_active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user, _new_link(session, actor, user, now)


def _new_link(
    session: Session, actor: StaffUser | None, user: StaffUser, now: dt.datetime
) -> IssuedLink:
    # Only the newest link works.
    session.execute(
        update(SetPasswordLink)
        .where(SetPasswordLink.staff_user_id == user.id, SetPasswordLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    link = SetPasswordLink(
        staff_user_id=user.id,
        token_hash=sha256_hex(token),
        created_by_id=actor.id if actor is not None else None,
        created_at=now,
        expires_at=now + SET_PASSWORD_LINK_LIFETIME,
    )
    session.add(link)
    session.flush()
    return IssuedLink(link=link, token=token)


def reset_staff_sign_in(
    session: Session, actor: StaffUser, target: StaffUser, *, now: dt.datetime
) -> IssuedLink:
    """Forget the target's password and second factor, end their sessions, issue a new link."""
    if not can_manage_staff(actor, target):
        raise Forbidden()
    target.password_hash = None
    target.totp_secret = None
    target.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == target.id))
    end_all_sessions(session, target, now=now, reason="reset")
    return _new_link(session, actor, target, now)


def set_staff_active(
    session: Session, actor: StaffUser, target: StaffUser, active: bool, *, now: dt.datetime
) -> None:
    if not can_manage_staff(actor, target):
        raise Forbidden()
    target.is_active = active
    if not active:
        end_all_sessions(session, target, now=now, reason="deactivated")
    session.flush()


def valid_link(session: Session, token: str, *, now: dt.datetime) -> SetPasswordLink | None:
    """The unused, unexpired link for ``token``, or None."""
    if not token or len(token) > 128:
        return None
    link = session.scalar(
        select(SetPasswordLink).where(SetPasswordLink.token_hash == sha256_hex(token))
    )
    if link is None or link.used_at is not None or now >= link.expires_at:
        return None
    if not link.staff_user.is_active:
        return None
    return link


def set_password_with_link(
    session: Session, token: str, password: str, *, now: dt.datetime
) -> StaffUser:
    """Spend the link and set the password (flushed); every other session ends."""
    link = valid_link(session, token, now=now)
    if link is None:
        raise Invalid(str(_l("This link has expired or was already used. Ask for a new one.")))
    user = link.staff_user
    problems = password_problems(password, email=user.email)
    if problems:
        raise Invalid(" ".join(problems))
    spent = changed_rows(
        session,
        update(SetPasswordLink)
        .where(SetPasswordLink.id == link.id, SetPasswordLink.used_at.is_(None))
        .values(used_at=now),
    )
    if spent != 1:
        raise Invalid(str(_l("This link has expired or was already used. Ask for a new one.")))
    user.password_hash = hash_password(password)
    end_all_sessions(session, user, now=now, reason="password_set")
    return user


def staff_visible_to(session: Session, actor: StaffUser) -> list[StaffUser]:
    """The accounts ``actor`` may see in the staff list."""
    query = select(StaffUser).order_by(StaffUser.role, StaffUser.email)
    if not sees_every_school(actor):
        query = query.where(StaffUser.school_id == actor.school_id)
    return list(session.scalars(query))
