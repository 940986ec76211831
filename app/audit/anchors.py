"""Anchors of the audit chain outside the database.

The hash chain shows any row changed, inserted or deleted *inside* it, but deleting the
newest rows leaves a shorter chain that still verifies. So from time to time (the
housekeeping run, ``photogate audit anchor``, and every evidence report) the chain's head
is appended to a file that does not live in the database: its event id, its hash and the
time, with an HMAC under the audit key so the file cannot be written by someone without
it. ``photogate audit verify`` then checks every anchor against the chain: an anchored
event that is gone, or that has another hash now, means the log was cut or rewritten.

The file is only as safe as where it is kept: in production put it on storage the
database's administrators cannot rewrite (another host, an append-only mount, an object
store with retention); a copy of each line in a log shipper does as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent


@dataclass(frozen=True)
class Anchor:
    """The chain's head at one moment."""

    at: dt.datetime
    event_id: int
    hash: str
    events: int

    def body(self) -> dict[str, str | int]:
        return {
            "at": self.at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "event_id": self.event_id,
            "hash": self.hash,
            "events": self.events,
        }


def _mac(key: bytes, body: dict[str, str | int]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"anchor|" + canonical, hashlib.sha256).hexdigest()


def head(session: Session, *, now: dt.datetime) -> Anchor | None:
    """The newest event of the chain, or None while the log is empty."""
    newest = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if newest is None:
        return None
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return Anchor(at=now, event_id=newest.id, hash=newest.hash, events=count)


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1].decode("utf-8", "replace") if lines else ""


def write_anchor(session: Session, path: Path, *, key: bytes, now: dt.datetime) -> Anchor | None:
    """Append the chain's head to ``path`` unless it is the head anchored last.

    Returns the anchor written, or None when there was nothing new to anchor.
    """
    anchor = head(session, now=now)
    if anchor is None:
        return None
    last = _last_line(path)
    if last:
        try:
            previous = json.loads(last)
        except ValueError:
            previous = {}
        if previous.get("event_id") == anchor.event_id and previous.get("hash") == anchor.hash:
            return None
    body = anchor.body()
    line = json.dumps({**body, "mac": _mac(key, body)}, sort_keys=True, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write of one line in append mode: concurrent writers never interleave inside it.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return anchor


@dataclass(frozen=True)
class AnchorProblem:
    """One anchor the chain does not agree with."""

    line: int
    event_id: int | None
    reason: str


@dataclass(frozen=True)
class AnchorReport:
    anchors: int
    problems: tuple[AnchorProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _read(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError:
        return


def check_anchors(session: Session, path: Path, *, key: bytes) -> AnchorReport:
    """Compare every anchor in ``path`` with the chain as it is now."""
    count = 0
    problems: list[AnchorProblem] = []
    newest_id = session.scalar(select(func.max(AuditEvent.id))) or 0
    for number, line in _read(path):
        count += 1
        try:
            entry = json.loads(line)
            body = {name: entry[name] for name in ("at", "event_id", "hash", "events")}
            mac = str(entry["mac"])
            event_id = int(body["event_id"])
        except (ValueError, KeyError, TypeError):
            problems.append(AnchorProblem(number, None, "the anchor line cannot be read"))
            continue
        if not hmac.compare_digest(mac, _mac(key, body)):
            problems.append(
                AnchorProblem(number, event_id, "the anchor's MAC does not hold (forged line)")
            )
            continue
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))
        if stored is None:
            reason = (
                f"event {event_id}, anchored at {body['at']}, is missing: the chain now ends at "
                f"event {newest_id}, so its newest rows were deleted"
                if event_id > newest_id
                else f"event {event_id}, anchored at {body['at']}, is missing"
            )
            problems.append(AnchorProblem(number, event_id, reason))
        elif not hmac.compare_digest(stored, str(body["hash"])):
            problems.append(
                AnchorProblem(
                    number,
                    event_id,
                    f"event {event_id} has another hash than when anchored at {body['at']}",
                )
            )
    return AnchorReport(anchors=count, problems=tuple(problems))
