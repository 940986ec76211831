"""Download links and ZIP bundles: how a marked full-resolution file reaches its one
recipient.

A link is made when a guardian asks for a photo: a random token (only its hash is
stored), valid a few minutes, usable once, and only by the session that asked. The
delivery it carries is made at the same moment, so its mark exists before any byte does.

A bundle is a ZIP made in the background: a family's whole order or event, or a print
lab's export. Its files are marked one by one (a delivery each), the ZIP is kept
encrypted until it is fetched once by the session that asked, within an hour, and then
deleted.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, str_enum, utcnow
from app.deliveries.models import Delivery
from app.orders.models import OrderItem


class DownloadLink(Base):
    """A single-use, session-bound, short-lived link to one marked file."""

    __tablename__ = "download_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the token in the URL (the token itself is never stored).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    entitlement_id: Mapped[int] = mapped_column(
        ForeignKey("entitlements.id", ondelete="CASCADE"), index=True
    )
    #: The session that asked: only it may use the link.
    session_id: Mapped[int] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    delivery: Mapped[Delivery] = relationship()


class BundleKind(enum.StrEnum):
    ORDER = "order"  # a family's paid order, every digital photo in it
    EVENT = "event"  # every photo a family may download from one event
    PRINT = "print"  # a print lab export of an event's paid prints


class BundleStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    FETCHED = "fetched"
    EXPIRED = "expired"


class Bundle(Base):
    """A ZIP of marked files, made in the background for one session."""

    __tablename__ = "download_bundles"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BundleKind] = mapped_column(str_enum(BundleKind, "bundle_kind", 16))
    status: Mapped[BundleStatus] = mapped_column(
        str_enum(BundleStatus, "bundle_status", 16), default=BundleStatus.QUEUED, index=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    #: The session that asked: only it may fetch the ZIP.
    session_id: Mapped[int] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )
    #: Where the asking came from, copied onto each file's delivery.
    device_hash: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    #: The ZIP's data key (wrapped by the key-encryption key) while it is kept.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(255))
    byte_size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: Why it failed, in words for the family or the lab.
    failure: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[dt.datetime | None]
    #: A ready ZIP not fetched by then is deleted.
    expires_at: Mapped[dt.datetime | None]
    fetched_at: Mapped[dt.datetime | None]

    items: Mapped[list[BundleItem]] = relationship(
        back_populates="bundle", order_by="BundleItem.id", cascade="all, delete-orphan"
    )


class BundleItem(Base):
    """One file of a bundle: the photo, what pays for it, and its delivery once marked."""

    __tablename__ = "download_bundle_items"
    __table_args__ = (UniqueConstraint("bundle_id", "photo_id", "entitlement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bundle_id: Mapped[int] = mapped_column(
        ForeignKey("download_bundles.id", ondelete="CASCADE"), index=True
    )
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"))
    entitlement_id: Mapped[int | None] = mapped_column(
        ForeignKey("entitlements.id", ondelete="CASCADE")
    )
    #: Print exports: the order line (size, quantity) the file is printed for.
    order_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("order_items.id", ondelete="CASCADE")
    )
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))

    bundle: Mapped[Bundle] = relationship(back_populates="items")
    order_item: Mapped[OrderItem | None] = relationship()


class DownloadSuspension(Base):
    """The school has paused a family's downloads, e.g. while it looks into a leak.

    The family keeps everything it bought: entitlements are not touched, and lifting the
    suspension gives back the download time it lasted. Only one can be in force per family
    at a time (the newest unlifted row).
    """

    __tablename__ = "download_suspensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    #: The investigation that asked for it, if any.
    investigation_id: Mapped[int | None] = mapped_column(
        ForeignKey("investigations.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    lifted_at: Mapped[dt.datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
