"""Audit events: one row per security-relevant action, chained by HMAC-SHA256."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, str_enum, utcnow


class ActorKind(enum.StrEnum):
    ANONYMOUS = "anonymous"
    GUARDIAN = "guardian"
    STAFF = "staff"
    SYSTEM = "system"


class AuditEvent(Base):
    """An immutable record; ``hash`` covers its fields and the previous row's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, "audit_actor_kind", 16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    ip_prefix: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Unique: two events can never chain off the same predecessor, so the log stays a line.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
