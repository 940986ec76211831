"""Server-side sign-in sessions: start, resolve on each request, end, list.

The browser holds a random token; the table holds its SHA-256, so a database leak yields
no usable cookie.  Every sign-in gets a fresh token (no fixation).  A session ends on idle
or absolute timeout, on sign-out, and when the account's ``session_version`` moves on
("sign out everywhere", an administrator's revoke, a new password).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.audit.services import ip_prefix
from app.auth.models import Guardian, SessionStage, StaffUser, UserSession
from app.auth.tokens import new_token, sha256_hex
from app.db import changed_rows
from app.useragents import parse_agent

Account = Guardian | StaffUser


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    absolute: dt.timedelta


FAMILY_TIMEOUTS = Timeouts(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=12))
STAFF_TIMEOUTS = Timeouts(idle=dt.timedelta(minutes=15), absolute=dt.timedelta(hours=8))
# Between the password and the second factor (or TOTP enrolment).
PENDING_TIMEOUTS = Timeouts(idle=dt.timedelta(minutes=10), absolute=dt.timedelta(minutes=10))
# Writing last_seen_at on every request costs a write per page; once a minute is enough
# for idle timeouts measured in quarter hours.
TOUCH_INTERVAL = dt.timedelta(seconds=60)


def timeouts_for(account: Account, stage: SessionStage) -> Timeouts:
    if stage is not SessionStage.ACTIVE:
        return PENDING_TIMEOUTS
    return FAMILY_TIMEOUTS if isinstance(account, Guardian) else STAFF_TIMEOUTS


@dataclass(frozen=True)
class StartedSession:
    record: UserSession
    #: The cookie value; shown to the browser once, never stored.
    token: str = ""


@dataclass(frozen=True)
class Resolution:
    record: UserSession | None
    #: Why a presented session was refused (for logs and the audit trail).
    ended_reason: str | None = None


def user_agent_family(user_agent: str) -> str:
    """A coarse "Browser on System" label: enough to recognise a device, no fingerprint."""
    return parse_agent(user_agent).label


def account_of(record: UserSession) -> Account | None:
    return record.guardian if record.guardian_id is not None else record.staff_user


def start_session(
    session: Session,
    account: Account,
    *,
    now: dt.datetime,
    stage: SessionStage = SessionStage.ACTIVE,
    user_agent: str = "",
    ip: str | None = None,
    replaces: UserSession | None = None,
) -> StartedSession:
    """Create a session with a new random token (flushed); end ``replaces`` if given."""
    if replaces is not None:
        end_session(session, replaces, now=now, reason="replaced")
    token = new_token()
    timeouts = timeouts_for(account, stage)
    record = UserSession(
        token_hash=sha256_hex(token),
        guardian_id=account.id if isinstance(account, Guardian) else None,
        staff_user_id=account.id if isinstance(account, StaffUser) else None,
        stage=stage,
        session_version=account.session_version,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timeouts.absolute,
        user_agent_family=user_agent_family(user_agent)[:64],
        ip_prefix=ip_prefix(ip),
    )
    session.add(record)
    if stage is SessionStage.ACTIVE:
        account.last_sign_in_at = now
    session.flush()
    return StartedSession(record=record, token=token)


def _refusal(record: UserSession, now: dt.datetime) -> str | None:
    account = account_of(record)
    if account is None or not account.is_active:
        return "account_disabled"
    if record.session_version != account.session_version:
        return "revoked"
    if now >= record.expires_at:
        return "absolute_timeout"
    if now - record.last_seen_at >= timeouts_for(account, record.stage).idle:
        return "idle_timeout"
    return None


def resolve(session: Session, token: str | None, *, now: dt.datetime) -> Resolution:
    """The live session for a cookie value; an expired or revoked one is ended (flushed)."""
    if not token or len(token) > 128:
        return Resolution(None)
    record = session.scalar(
        select(UserSession).where(
            UserSession.token_hash == sha256_hex(token), UserSession.ended_at.is_(None)
        )
    )
    if record is None:
        return Resolution(None, "unknown")
    reason = _refusal(record, now)
    if reason is not None:
        end_session(session, record, now=now, reason=reason)
        return Resolution(None, reason)
    if now - record.last_seen_at >= TOUCH_INTERVAL:
        record.last_seen_at = now
        session.flush()
    return Resolution(record)


def end_session(session: Session, record: UserSession, *, now: dt.datetime, reason: str) -> None:
    """End one session (flushed); ending an ended session changes nothing."""
    if record.ended_at is None:
        record.ended_at = now
        record.end_reason = reason[:32]
        session.flush()


def end_all_sessions(session: Session, account: Account, *, now: dt.datetime, reason: str) -> int:
    """Bump the account's session version and end every open session (flushed).

    The version bump alone is what makes it stick: even a session row written by a request
    racing this one carries the old version and is refused on its next request.
    """
    account.session_version += 1
    column = UserSession.guardian_id if isinstance(account, Guardian) else UserSession.staff_user_id
    ended = changed_rows(
        session,
        update(UserSession)
        .where(column == account.id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:32]),
        synchronize="fetch",
    )
    session.flush()
    return ended


def active_sessions(session: Session, account: Account, *, now: dt.datetime) -> list[UserSession]:
    """The account's signed-in sessions that would still be accepted, newest first."""
    column = UserSession.guardian_id if isinstance(account, Guardian) else UserSession.staff_user_id
    records = session.scalars(
        select(UserSession)
        .where(
            column == account.id,
            UserSession.ended_at.is_(None),
            UserSession.stage == SessionStage.ACTIVE,
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [record for record in records if _refusal(record, now) is None]


def session_of(session: Session, account: Account, session_id: int) -> UserSession | None:
    """One of the account's own sessions by id, or None (never another account's)."""
    record = session.get(UserSession, session_id)
    if record is None:
        return None
    if isinstance(account, Guardian) and record.guardian_id == account.id:
        return record
    if isinstance(account, StaffUser) and record.staff_user_id == account.id:
        return record
    return None
