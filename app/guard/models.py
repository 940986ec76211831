"""What the guard keeps in the database: alerts (an entity's score, the rules that fired
with their evidence, the ladder step reached), holds (a step-up, a block or a suspension
in force), step-ups completed, and "known household" dismissals.

The signals themselves live in the signal store (:mod:`app.guard.store`), not here.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, str_enum, utcnow


class Step(enum.StrEnum):
    """The rungs of the response ladder, lowest first."""

    LOG = "log"
    NOTICE = "notice"
    STEP_UP = "step_up"
    BLOCK = "block"
    REVOKE = "revoke"

    @property
    def rank(self) -> int:
        return list(Step).index(self)


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"  # a known household: its devices stop counting
    LIFTED = "lifted"  # an administrator undid the response


class HoldKind(enum.StrEnum):
    STEP_UP = "step_up"  # sessions from before it must re-authenticate
    BLOCK = "block"  # new devices (of an account) or this device / network are refused
    SUSPEND = "suspend"  # the account is refused until an administrator lifts it


class GuardAlert(Base):
    """One entity (account, device, network, browser on a network) that reached a step."""

    __tablename__ = "guard_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Shown on the blocked page and to the school: "G-4K7QX2MA".
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    #: "account:12", "device:<sha256>", "network:203.0.113.0/24", "pair:<prefix>|<family>".
    entity: Mapped[str] = mapped_column(String(200), index=True)
    guardian_id: Mapped[int | None] = mapped_column(
        ForeignKey("guardians.id", ondelete="SET NULL"), index=True
    )
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="SET NULL"), index=True
    )
    score: Mapped[int] = mapped_column(Integer)
    step: Mapped[Step] = mapped_column(str_enum(Step, "guard_step", 16))
    #: [{"rule": ..., "points": ..., "evidence": {...}}] of the highest score seen.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: [{"step": ..., "at": iso time, "score": ...}]: every rung reached, in order.
    timeline: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[AlertStatus] = mapped_column(
        str_enum(AlertStatus, "guard_alert_status", 16), default=AlertStatus.OPEN
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )


class GuardHold(Base):
    """A response in force on an entity until it expires or is lifted."""

    __tablename__ = "guard_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("guard_alerts.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[HoldKind] = mapped_column(str_enum(HoldKind, "guard_hold_kind", 16))
    reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    lifted_at: Mapped[dt.datetime | None]


class GuardStepUp(Base):
    """A session that re-authenticated at the provider after a step-up was asked for, and
    (when the family's roster contact is an e-mail address) entered the one-time code sent
    there: verified once ``verified_at`` is set."""

    __tablename__ = "guard_step_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    guardian_id: Mapped[int] = mapped_column(
        ForeignKey("guardians.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="CASCADE"), unique=True
    )
    verified_at: Mapped[dt.datetime | None]
    #: HMAC of the one-time code sent to the family's contact (None: no code was needed).
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_sent_to: Mapped[str | None] = mapped_column(String(320))
    code_expires_at: Mapped[dt.datetime | None]
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)


class GuardHousehold(Base):
    """A member (a device, a family) an administrator confirmed as a known household of
    an entity: the rules no longer count it for that entity."""

    __tablename__ = "guard_households"
    __table_args__ = (UniqueConstraint("entity", "member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(200), index=True)
    member: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
