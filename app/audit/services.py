"""Record audit events and verify the hash chain.

Each event's ``hash`` is HMAC-SHA256 over the previous event's hash and the event's own
fields, keyed by a key derived from the Flask secret (:class:`app.keys.DerivedKeys`).
Changing, deleting or reordering a stored row breaks every later link, and without the key
nobody can forge a consistent chain.  The table is append-only at the database level too
(triggers in the migration).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.models import ActorKind, AuditEvent
from app.db import utcnow

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Any constant works; it names the PostgreSQL advisory lock that serialises appends.
_APPEND_LOCK_ID = 0x70686F746F67  # "photog"

DetailValue = str | int | bool | None


def ip_prefix(address: str | None) -> str:
    """The network of ``address`` (IPv4 /24, IPv6 /48): enough to place, not to single out."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _canonical(event: AuditEvent) -> bytes:
    fields = [
        event.prev_hash,
        event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        str(event.actor_kind),
        event.actor_id,
        event.action,
        event.subject,
        event.ip_prefix,
        event.details,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(key: bytes, event: AuditEvent) -> str:
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def record(
    session: Session,
    *,
    key: bytes,
    action: str,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
    subject: str = "",
    ip: str | None = None,
    details: Mapping[str, DetailValue] | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Append an event to the chain (flushed, not committed)."""
    if session.get_bind().dialect.name == "postgresql":
        # Appends from concurrent transactions queue here until the holder commits, so
        # each one reads the true last hash; the unique prev_hash catches anything else.
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK_ID})
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    occurred = now or utcnow()
    # Microseconds survive every backend; anything finer would not verify after a reload.
    event = AuditEvent(
        occurred_at=occurred.astimezone(dt.UTC),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action[:64],
        subject=subject[:200],
        ip_prefix=ip_prefix(ip),
        details=dict(details or {}),
        prev_hash=last or GENESIS_HASH,
    )
    event.hash = _digest(key, event)
    session.add(event)
    session.flush()
    logger.info("audit %s actor=%s:%s subject=%s", action, actor_kind, actor_id, subject)
    return event


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    ok: bool
    events: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(session: Session, *, key: bytes) -> ChainReport:
    """Recompute every link; report the first event whose hash or link does not hold."""
    expected_prev = GENESIS_HASH
    count = 0
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=500)
    )
    for event in rows:
        count += 1
        if event.prev_hash != expected_prev:
            return ChainReport(False, count, event.id, "link to the previous event is broken")
        if not hmac.compare_digest(event.hash, _digest(key, event)):
            return ChainReport(False, count, event.id, "event content does not match its hash")
        expected_prev = event.hash
    return ChainReport(True, count)


@dataclass(frozen=True)
class Window:
    """The newest events, newest first, and what checking them found."""

    events: Sequence[AuditEvent]
    report: ChainReport


def verify_window(session: Session, *, key: bytes, limit: int) -> Window:
    """Check the newest ``limit`` events: each hash, and each link to the event before it.

    The cost does not grow with the log (a page can afford it on every view); only
    :func:`verify_chain` proves the whole chain from the first event.
    """
    rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)))
    shown = rows[:limit]
    # The extra, older row only anchors the oldest shown event's link.
    anchor = rows[limit] if len(rows) > limit else None
    expected_prev = anchor.hash if anchor is not None else GENESIS_HASH
    for event in reversed(shown):
        if event.prev_hash != expected_prev:
            return Window(
                shown,
                ChainReport(False, len(shown), event.id, "link to the previous event is broken"),
            )
        if not hmac.compare_digest(event.hash, _digest(key, event)):
            return Window(
                shown,
                ChainReport(False, len(shown), event.id, "event content does not match its hash"),
            )
        expected_prev = event.hash
    return Window(shown, ChainReport(True, len(shown)))
