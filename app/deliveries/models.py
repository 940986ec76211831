"""Deliveries: every marked copy of a photo that left the server, and who received it.

A delivery's ``mark`` is the watermark payload: a random number in the payload space,
unique, never sequential, so one read of a leaked file names one delivery — a preview a
guardian looked at, a download, a print for the lab, or a staff view — and nothing about
the mark tells how many others exist.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Guardian, StaffUser
from app.db import Base, str_enum, utcnow
from app.photos.models import Photo


class DeliveryKind(enum.StrEnum):
    PREVIEW = "preview"  # the viewer's preview in the gallery
    DOWNLOAD = "download"  # a full-resolution file a guardian downloaded
    PRINT = "print"  # a full-resolution file sent to the print lab
    STAFF = "staff"  # a full-resolution view by staff


class Delivery(Base):
    """One marked copy: the evidence an investigation reads back."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # One preview delivery per guardian, photo and day: the table stays bounded however
        # often a family looks, and the day's marked copy is made once.
        UniqueConstraint("guardian_id", "photo_id", "preview_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The watermark payload (32 bits), random and unique.
    mark: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[DeliveryKind] = mapped_column(str_enum(DeliveryKind, "delivery_kind", 16))
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    family_id: Mapped[int | None] = mapped_column(ForeignKey("families.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("user_sessions.id"))
    #: SHA-256 of the browser's device cookie (the cookie itself is never stored).
    device_hash: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    browser: Mapped[str] = mapped_column(String(64), default="")
    os: Mapped[str] = mapped_column(String(64), default="")
    #: Where from (app.network): the address's /24 or /48, its owner and its country.
    network: Mapped[str] = mapped_column(String(64), default="")
    network_owner: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    #: Downloads: the entitlement that paid for the copy.
    entitlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("entitlements.id", ondelete="SET NULL"), index=True
    )
    #: Copies made for a ZIP (a family's order or event, a print lab export).
    bundle_id: Mapped[int | None] = mapped_column(
        ForeignKey("download_bundles.id", ondelete="SET NULL"), index=True
    )
    #: The watermark key that made the mark (its public id).
    key_id: Mapped[str] = mapped_column(String(32))
    #: Previews only: the day (UTC) this delivery covers.
    preview_day: Mapped[dt.date | None] = mapped_column(Date)
    #: The bytes that left: their SHA-256 and size (set once they are sent).
    sha256: Mapped[str | None] = mapped_column(String(64))
    byte_size: Mapped[int | None] = mapped_column(Integer)
    #: When the bytes left the server (a download fetched, a ZIP fetched); None while a
    #: link waits or after it expired unused.
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    photo: Mapped[Photo] = relationship()
    guardian: Mapped[Guardian | None] = relationship()
    staff_user: Mapped[StaffUser | None] = relationship()
