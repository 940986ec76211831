"""Invitations: the only way a guardian joins a family."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Guardian, StaffUser
from app.db import Base, str_enum, utcnow
from app.schools.models import Family


class InvitationKind(enum.StrEnum):
    # Issued by the school to a family on its roster, printed on a letter.
    ROSTER = "roster"
    # Issued by a guardian of the family to a second guardian, shared as a link.
    GUARDIAN = "guardian"


class Invitation(Base):
    """A claim-once code; only an HMAC of it is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[InvitationKind] = mapped_column(str_enum(InvitationKind, "invitation_kind", 16))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    created_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL")
    )
    claimed_at: Mapped[dt.datetime | None]
    claimed_by_guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )
    revoked_at: Mapped[dt.datetime | None]

    family: Mapped[Family] = relationship()
    created_by_staff: Mapped[StaffUser | None] = relationship()
    created_by_guardian: Mapped[Guardian | None] = relationship(
        foreign_keys=[created_by_guardian_id]
    )
    claimed_by: Mapped[Guardian | None] = relationship(foreign_keys=[claimed_by_guardian_id])

    def is_open(self, now: dt.datetime) -> bool:
        """Not yet claimed, not revoked, not expired."""
        return self.claimed_at is None and self.revoked_at is None and now < self.expires_at
