"""Accounts: guardians (OpenID Connect identities) and staff (password + TOTP)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, str_enum, utcnow
from app.schools.models import Family, School


class StaffRole(enum.StrEnum):
    PHOTOGRAPHER = "photographer"
    SCHOOL_ADMIN = "school_admin"
    OPERATOR = "operator"


class Guardian(Base):
    """A family member, identified only by (issuer, subject) — never by e-mail."""

    __tablename__ = "guardians"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("families.id", ondelete="SET NULL"), index=True
    )
    # Shown to the family and the school only; never used to link identities.
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    # Bumped by "sign out everywhere" and by an administrator's revoke.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    joined_family_at: Mapped[dt.datetime | None]
    last_sign_in_at: Mapped[dt.datetime | None]

    family: Mapped[Family | None] = relationship(back_populates="guardians")


class StaffUser(Base):
    """A photographer, school administrator or operator."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased so that look-ups are exact and case-insensitive at once.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role", 32))
    # School administrators belong to one school; operators and photographers to none
    # (photographers are assigned to events instead).
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Sealed with the key-encryption key (app.auth.totp); never stored in clear.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    # The last accepted TOTP time-step: a code is good once, even inside its window.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None]

    school: Mapped[School | None] = relationship()


class SessionStage(enum.StrEnum):
    """How far a sign-in has got; only ACTIVE sessions authenticate requests."""

    ACTIVE = "active"
    # Staff: password accepted, second factor still to come.
    SECOND_FACTOR = "second_factor"
    # Staff: password set through a link, TOTP still to enrol.
    ENROL = "enrol"


class UserSession(Base):
    """A server-side sign-in; the browser holds only a random id whose SHA-256 is stored."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint(
            "(guardian_id IS NULL) <> (staff_user_id IS NULL)", name="exactly_one_account"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[SessionStage] = mapped_column(str_enum(SessionStage, "session_stage", 16))
    # The account's session_version at sign-in; a bump ends this session.
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    user_agent_family: Mapped[str] = mapped_column(String(64), default="")
    # The TOTP seed offered during enrolment (sealed), kept here on the server until the
    # staff member proves their authenticator has it.
    pending_totp_secret: Mapped[str | None] = mapped_column(String(255))
    ip_prefix: Mapped[str] = mapped_column(String(64), default="")

    guardian: Mapped[Guardian | None] = relationship()
    staff_user: Mapped[StaffUser | None] = relationship()


class OidcLoginRequest(Base):
    """One started OpenID Connect sign-in: state, nonce and PKCE verifier, used once.

    ``browser_hash`` ties it to the browser that started it (a cookie only that browser
    holds), so a callback URL pasted into another browser is refused.
    """

    __tablename__ = "oidc_login_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    used_at: Mapped[dt.datetime | None]


class ThrottleScope(enum.StrEnum):
    STAFF_PASSWORD = "staff_password"  # noqa: S105 -- a scope name, not a credential
    SECOND_FACTOR = "second_factor"
    INVITATION_CLAIM = "invitation_claim"
    # Failures of one staff account from every network: never a lock, only tighter
    # per-network limits while it is high (see app.auth.throttle).
    STAFF_ACCOUNT = "staff_account"


class SignInThrottle(Base):
    """Failed attempts of one key (e.g. account + IP) and the lock they earned."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (UniqueConstraint("scope", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(str_enum(ThrottleScope, "throttle_scope", 32))
    # SHA-256 of the key, so the table holds no e-mail addresses of people who mistyped.
    key_hash: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    locked_until: Mapped[dt.datetime | None]


class RecoveryCode(Base):
    """A single-use second factor for a staff member who lost their authenticator."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None]


class SetPasswordLink(Base):
    """A single-use, expiring link with which a staff member sets their password."""

    __tablename__ = "set_password_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    staff_user: Mapped[StaffUser] = relationship(foreign_keys=[staff_user_id])
