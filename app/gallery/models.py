"""Events (a sale window for some classrooms) and their photos."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Column,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import StaffUser
from app.db import Base, utcnow
from app.schools.models import Classroom, School

event_classrooms = Table(
    "event_classrooms",
    Base.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("classroom_id", ForeignKey("classrooms.id", ondelete="CASCADE"), primary_key=True),
)

event_photographers = Table(
    "event_photographers",
    Base.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_user_id", ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
)


class PhotoStatus(enum.StrEnum):
    PENDING = "pending"  # original stored, derivatives not made yet
    READY = "ready"  # every derivative exists; visible when released
    FAILED = "failed"  # processing failed; reason kept, retry possible


class Event(Base):
    """A photographed occasion with a sale window; its audience is a set of classrooms."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    event_date: Mapped[dt.date] = mapped_column(Date)
    sale_starts_at: Mapped[dt.datetime]
    sale_ends_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship()
    audience: Mapped[list[Classroom]] = relationship(secondary=event_classrooms)
    photographers: Mapped[list[StaffUser]] = relationship(secondary=event_photographers)
    photos: Mapped[list[Photo]] = relationship(back_populates="event", order_by="Photo.id")

    def is_on_sale(self, now: dt.datetime) -> bool:
        return self.sale_starts_at <= now < self.sale_ends_at


class Photo(Base):
    """One uploaded photo; its encrypted blobs are addressed by its id."""

    __tablename__ = "photos"
    # Same content uploaded twice to one event is the same photo.
    __table_args__ = (UniqueConstraint("event_id", "original_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    status: Mapped[PhotoStatus] = mapped_column(
        Enum(
            PhotoStatus,
            name="photo_status",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=PhotoStatus.PENDING,
    )
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # SHA-256 of the uploaded bytes (duplicate detection) and of the clean re-encoded
    # master (integrity of what families are sold).
    original_sha256: Mapped[str] = mapped_column(String(64))
    master_sha256: Mapped[str | None] = mapped_column(String(64))
    byte_size: Mapped[int] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="photos")
