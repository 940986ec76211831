"""Lockouts with growing delays after repeated failures of one key.

Keys are narrow on purpose: a staff password lockout is per (account, network), so many
teachers behind one school NAT are never locked out together by one account's failures,
and an attacker elsewhere cannot lock a staff member out of their own office.  What an
attacker spread over many networks does to one account is counted too
(``STAFF_ACCOUNT``), but only to tighten the per-network allowance while it is high:
it never locks the account itself.  Request-rate limits per IP (Flask-Limiter) sit on top.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth.models import SignInThrottle, ThrottleScope
from app.auth.tokens import sha256_hex
from app.db import changed_rows
from app.errors import TooManyRequests
from app.i18n import lazy_gettext as _l


@dataclass(frozen=True)
class ThrottlePolicy:
    #: Failures answered normally before the first lock.
    free_failures: int
    #: The first lock; each later one doubles, up to ``max_delay``.
    base_delay: dt.timedelta
    max_delay: dt.timedelta
    #: A quiet spell this long forgets the failures.
    forget_after: dt.timedelta


POLICIES: dict[ThrottleScope, ThrottlePolicy] = {
    ThrottleScope.STAFF_PASSWORD: ThrottlePolicy(
        free_failures=10,
        base_delay=dt.timedelta(minutes=1),
        max_delay=dt.timedelta(hours=1),
        forget_after=dt.timedelta(hours=24),
    ),
    # The password is already known to whoever types codes here: fewer tries.
    ThrottleScope.SECOND_FACTOR: ThrottlePolicy(
        free_failures=5,
        base_delay=dt.timedelta(minutes=5),
        max_delay=dt.timedelta(hours=4),
        forget_after=dt.timedelta(hours=24),
    ),
    ThrottleScope.INVITATION_CLAIM: ThrottlePolicy(
        free_failures=5,
        base_delay=dt.timedelta(minutes=5),
        max_delay=dt.timedelta(hours=24),
        forget_after=dt.timedelta(hours=24),
    ),
    # Counted, never locked: an hour without failures forgets them.
    ThrottleScope.STAFF_ACCOUNT: ThrottlePolicy(
        free_failures=2**31 - 1,
        base_delay=dt.timedelta(0),
        max_delay=dt.timedelta(0),
        forget_after=dt.timedelta(hours=1),
    ),
}


class Locked(TooManyRequests):
    """Too many failures: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            retry_after,
            _l(
                "Too many failed attempts. Please wait %(minutes)d minute(s) and try again.",
                minutes=max(1, math.ceil(retry_after / 60)),
            ),
        )


def _key_hash(scope: ThrottleScope, key: str) -> str:
    return sha256_hex(f"{scope}\x00{key}")


def _row(session: Session, scope: ThrottleScope, key: str) -> SignInThrottle | None:
    return session.scalar(
        select(SignInThrottle)
        .where(SignInThrottle.scope == scope, SignInThrottle.key_hash == _key_hash(scope, key))
        .with_for_update()
    )


def check(session: Session, scope: ThrottleScope, key: str, now: dt.datetime) -> None:
    """Raise :class:`Locked` while ``key`` is locked out."""
    row = _row(session, scope, key)
    if row is not None and row.locked_until is not None and now < row.locked_until:
        raise Locked(max(1, math.ceil((row.locked_until - now).total_seconds())))


def record_failure(
    session: Session,
    scope: ThrottleScope,
    key: str,
    now: dt.datetime,
    *,
    free_failures: int | None = None,
) -> Locked | None:
    """Count a failure; return the lock it earned, if any (flushed).

    ``free_failures`` replaces the policy's allowance for this failure (tighter limits
    while an account is under attack).
    """
    policy = POLICIES[scope]
    allowance = policy.free_failures if free_failures is None else free_failures
    row = _row(session, scope, key)
    if row is None:
        # Rows nobody failed on for longer than any policy remembers are worthless;
        # sweeping them whenever a new one is made keeps the table small.
        prune(session, now)
        row = SignInThrottle(
            scope=scope,
            key_hash=_key_hash(scope, key),
            failures=0,
            lockouts=0,
            last_failure_at=now,
        )
        session.add(row)
    elif now - row.last_failure_at > policy.forget_after:
        row.failures = 0
        row.lockouts = 0
        row.locked_until = None
    row.failures += 1
    row.last_failure_at = now
    lock: Locked | None = None
    if row.failures >= allowance:
        delay = min(policy.base_delay * (2**row.lockouts), policy.max_delay)
        row.lockouts += 1
        row.locked_until = now + delay
        lock = Locked(math.ceil(delay.total_seconds()))
    session.flush()
    return lock


def recent_failures(session: Session, scope: ThrottleScope, key: str, now: dt.datetime) -> int:
    """How many failures ``key`` has had that the policy still remembers."""
    row = _row(session, scope, key)
    if row is None or now - row.last_failure_at > POLICIES[scope].forget_after:
        return 0
    return row.failures


def clear(session: Session, scope: ThrottleScope, key: str) -> None:
    """Forget the failures of ``key`` (after a success)."""
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.scope == scope, SignInThrottle.key_hash == _key_hash(scope, key)
        )
    )


def prune(session: Session, now: dt.datetime) -> int:
    """Delete rows nobody failed on for longer than their policy remembers."""
    horizon = now - max(policy.forget_after for policy in POLICIES.values())
    return changed_rows(
        session, delete(SignInThrottle).where(SignInThrottle.last_failure_at < horizon)
    )
