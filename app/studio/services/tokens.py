"""Photographers' API tokens: shown once, stored as a SHA-256, revocable."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.auth.tokens import sha256_hex
from app.errors import Forbidden, Invalid
from app.i18n import gettext as _
from app.studio.models import ApiToken
from app.studio.policies import can_manage_api_tokens

logger = logging.getLogger(__name__)

#: Recognisable in logs and secret scanners, like GitHub's ``ghp_``.
TOKEN_PREFIX: Final = "pgs_"  # noqa: S105 -- a public prefix, not a secret
MAX_ACTIVE_TOKENS: Final = 20
MAX_TOKEN_NAME: Final = 100
# Writing last_used_at on every request would cost a write per uploaded file.
_TOUCH_INTERVAL: Final = dt.timedelta(minutes=1)
_MAX_PRESENTED_LENGTH: Final = 128


@dataclass(frozen=True)
class IssuedToken:
    record: ApiToken
    #: The token itself: shown to the photographer once and never stored.
    token: str = ""


def _active_tokens(session: Session, owner: StaffUser) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.staff_user_id == owner.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def create_api_token(
    session: Session, owner: StaffUser, name: str, *, now: dt.datetime
) -> IssuedToken:
    """A new token for ``owner`` (flushed); the plaintext is in the result only."""
    if not can_manage_api_tokens(owner):
        raise Forbidden()
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_TOKEN_NAME:
        raise Invalid(_("A token name needs 1 to %(max)s characters.", max=MAX_TOKEN_NAME))
    if len(_active_tokens(session, owner)) >= MAX_ACTIVE_TOKENS:
        raise Invalid(
            _("You already have %(count)s tokens; revoke one first.", count=MAX_ACTIVE_TOKENS)
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        staff_user_id=owner.id,
        name=clean,
        token_hash=sha256_hex(token),
        prefix=token[:12],
        created_at=now,
    )
    session.add(record)
    session.flush()
    logger.info("API token %s created for staff %s", record.id, owner.id)
    return IssuedToken(record=record, token=token)


def tokens_of(session: Session, owner: StaffUser) -> list[ApiToken]:
    """The owner's tokens that still work, newest first."""
    return _active_tokens(session, owner)


def token_of(session: Session, owner: StaffUser, token_id: int) -> ApiToken | None:
    """One of the owner's own tokens by id (never another account's)."""
    return session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.staff_user_id == owner.id)
    )


def revoke_api_token(session: Session, token: ApiToken, *, now: dt.datetime) -> bool:
    """Revoke the token (flushed); False if it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    session.flush()
    logger.info("API token %s of staff %s revoked", token.id, token.staff_user_id)
    return True


def authenticate_api_token(
    session: Session, presented: str | None, *, now: dt.datetime
) -> StaffUser | None:
    """The photographer a presented token acts for, or None (unknown, revoked, disabled)."""
    if not presented or not presented.startswith(TOKEN_PREFIX):
        return None
    if len(presented) > _MAX_PRESENTED_LENGTH:
        return None
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(presented)))
    if record is None or record.revoked_at is not None:
        return None
    owner = record.staff_user
    # A token is only as good as its account: a disabled or re-roled account stops it.
    if not can_manage_api_tokens(owner):
        return None
    if record.last_used_at is None or now - record.last_used_at >= _TOUCH_INTERVAL:
        record.last_used_at = now
        session.flush()
    return owner
