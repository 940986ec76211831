"""Events (a sale window for some classrooms) and their photos."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import StaffUser
from app.db import Base, str_enum, utcnow
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
    PURGED = "purged"  # retention deleted its image data; the row stays for orders and records


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
    # Set by the school (e.g. swimming day): new uploads arrive withheld until released.
    hold_new_uploads: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # Days after the sale window closes until photos are deleted; None = the platform default.
    retention_days: Mapped[int | None] = mapped_column(Integer)

    school: Mapped[School] = relationship()
    audience: Mapped[list[Classroom]] = relationship(secondary=event_classrooms)
    photographers: Mapped[list[StaffUser]] = relationship(secondary=event_photographers)
    photos: Mapped[list[Photo]] = relationship(back_populates="event", order_by="Photo.id")
    albums: Mapped[list[Album]] = relationship(back_populates="event", order_by="Album.name")

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
        str_enum(PhotoStatus, "photo_status", 16),
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
    # The photo's data key wrapped by the key-encryption key; cleared by retention, which
    # leaves any copy of the blobs (a backup, a failed delete) undecryptable.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(255))
    album_id: Mapped[int | None] = mapped_column(
        ForeignKey("albums.id", ondelete="SET NULL"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    # The uploaded file's base name (never a path), shown to staff only.
    original_filename: Mapped[str | None] = mapped_column(String(255))
    # A stable code (a RejectedImage code, "storage", "internal") next to the readable reason.
    failure_code: Mapped[str | None] = mapped_column(String(32))
    queued_at: Mapped[dt.datetime | None]
    processed_at: Mapped[dt.datetime | None]
    # pHash and dHash of the clean master (hex): the leak investigation's fallback.
    phash: Mapped[str | None] = mapped_column(String(16))
    dhash: Mapped[str | None] = mapped_column(String(16))
    # Withheld photos are never shown to families, whatever their status.
    withheld_at: Mapped[dt.datetime | None]
    withheld_reason: Mapped[str | None] = mapped_column(String(200))
    withheld_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    purged_at: Mapped[dt.datetime | None]

    event: Mapped[Event] = relationship(back_populates="photos")
    album: Mapped[Album | None] = relationship(back_populates="photos")

    @property
    def is_withheld(self) -> bool:
        return self.withheld_at is not None


class Album(Base):
    """A named group of photos within one event ("Relay race", "Class 3-A")."""

    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("event_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: The class the album shows, when it shows one ("Class 3-A"): families filter by it.
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="albums")
    classroom: Mapped[Classroom | None] = relationship()
    photos: Mapped[list[Photo]] = relationship(back_populates="album", order_by="Photo.id")


class PhotoFeatures(Base):
    """ORB key points and descriptors of a ready photo: its row of the leak investigation's
    crop-robust index (``app.imaging.keypoints``), made when the photo is processed."""

    __tablename__ = "photo_features"

    photo_id: Mapped[int] = mapped_column(
        ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True
    )
    #: Width and height of the image the points are in (the preview).
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    #: float32 (x, y) pairs, then uint8 32-byte ORB descriptors, row by row.
    points: Mapped[bytes] = mapped_column(LargeBinary)
    descriptors: Mapped[bytes] = mapped_column(LargeBinary)
    #: Which points the row holds (``FEATURE_SCHEME``): rows made before the master's tiles
    #: were indexed are 1, and ``photogate studio reindex`` remakes them.
    scheme: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    made_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
