"""Studio tables: photographers' API tokens and the record of deleted photo data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import StaffUser
from app.db import Base, utcnow


class ApiToken(Base):
    """A photographer's token for the upload API; only its SHA-256 is stored.

    The token acts for its photographer and so reaches exactly the events they are
    assigned to, no more.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a photographer can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    staff_user: Mapped[StaffUser] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PhotoDeletion(Base):
    """What was deleted of one photo, when and why; never any image data.

    No foreign keys: the record must outlive the photo, its event and even its school.
    """

    __tablename__ = "photo_deletions"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(Integer, index=True)
    event_id: Mapped[int] = mapped_column(Integer, index=True)
    school_id: Mapped[int] = mapped_column(Integer, index=True)
    deleted_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # "retention" or another short machine-readable cause, with the details in words.
    reason: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(String(500), default="")
    # Staff member who asked for it; None for the scheduled retention run.
    deleted_by_id: Mapped[int | None] = mapped_column(Integer)
    blobs_deleted: Mapped[int] = mapped_column(Integer, default=0)
