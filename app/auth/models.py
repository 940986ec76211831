"""Accounts: guardians (OpenID Connect identities) and staff (password + TOTP)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow
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

    family: Mapped[Family | None] = relationship(back_populates="guardians")


class StaffUser(Base):
    """A photographer, school administrator or operator."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased so that look-ups are exact and case-insensitive at once.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[StaffRole] = mapped_column(
        Enum(
            StaffRole,
            name="staff_role",
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=lambda roles: [role.value for role in roles],
        )
    )
    # School administrators belong to one school; operators and photographers to none
    # (photographers are assigned to events instead).
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    school: Mapped[School | None] = relationship()
