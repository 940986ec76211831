"""Investigation cases (the feature index of photos is a photo's own: app.photos.models).

A case keeps what an investigation needs to stand up later: the suspect's SHA-256 (its
bytes are stored encrypted under the case's own data key), who investigated and when, what
each step of the search found, the verdict, notes and a status.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import StaffUser
from app.db import Base, str_enum, utcnow
from app.deliveries.models import Delivery
from app.photos.models import Photo
from app.schools.models import School


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Verdict(enum.StrEnum):
    DELIVERY = "delivery"  # an authenticated mark named one delivery
    PHOTO = "photo"  # no mark read, but the source photo was found
    NO_MATCH = "no_match"  # neither


class Investigation(Base):
    """One leak investigation: the suspect, the search's results and the verdict."""

    __tablename__ = "investigations"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The school whose photos are searched; None = every school (operators only).
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    investigator_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[CaseStatus] = mapped_column(
        str_enum(CaseStatus, "investigation_status", 16), default=CaseStatus.OPEN
    )
    suspect_sha256: Mapped[str] = mapped_column(String(64), index=True)
    suspect_bytes: Mapped[int] = mapped_column(Integer)
    suspect_format: Mapped[str] = mapped_column(String(16))
    suspect_width: Mapped[int] = mapped_column(Integer)
    suspect_height: Mapped[int] = mapped_column(Integer)
    #: The suspect's data key, wrapped by the key-encryption key (like a photo's).
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(255))
    suspect_phash: Mapped[str | None] = mapped_column(String(16))
    suspect_dhash: Mapped[str | None] = mapped_column(String(16))
    verdict: Mapped[Verdict | None] = mapped_column(str_enum(Verdict, "investigation_verdict", 16))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL"), index=True
    )
    #: How the verdict was reached: "blind", "informed" or "features" / "phash".
    method: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    key_id: Mapped[str | None] = mapped_column(String(32))
    #: Every step's findings (candidates with distances, reads, timings), as JSON.
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    searched_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    #: Set while the case is brought to the platform operator's attention.
    escalated_at: Mapped[dt.datetime | None]
    escalated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    school: Mapped[School | None] = relationship()
    investigator: Mapped[StaffUser | None] = relationship(foreign_keys=[investigator_id])
    escalated_by: Mapped[StaffUser | None] = relationship(foreign_keys=[escalated_by_id])
    delivery: Mapped[Delivery | None] = relationship()
    photo: Mapped[Photo | None] = relationship()

    @property
    def blob_id(self) -> str:
        """The suspect's name in the blob store (never a photo id)."""
        return f"case-{self.id}"
