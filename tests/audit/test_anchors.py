"""Anchors of the chain's head outside the database: cutting the newest audit rows, which
leaves a chain that still verifies, is found by them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import NamedTuple

from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.audit.anchors import check_anchors, write_anchor
from app.audit.services import record, verify_chain
from app.housekeeping import tidy
from app.keys import AUDIT_INFO, derive_key
from app.web.context import runtime
from tests.audit.support import drop_append_only_guard


class Event(NamedTuple):
    id: int
    hash: str


KEY = derive_key(b"k" * 64, AUDIT_INFO)
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def _events(session: Session, count: int, key: bytes = KEY) -> list[Event]:
    """``count`` new events, as (id, hash): plain values that outlive the rows."""
    events = [
        record(session, key=key, action="test.event", subject=f"n:{n}", details={"n": n})
        for n in range(count)
    ]
    session.commit()
    return [Event(event.id, event.hash) for event in events]


def test_an_anchor_is_written_only_when_the_head_moved(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    assert write_anchor(session, path, key=KEY, now=NOW) is None  # an empty log
    events = _events(session, 3)
    first = write_anchor(session, path, key=KEY, now=NOW)
    assert first is not None
    assert (first.event_id, first.hash, first.events) == (events[-1].id, events[-1].hash, 3)
    assert write_anchor(session, path, key=KEY, now=NOW) is None
    _events(session, 1)
    assert write_anchor(session, path, key=KEY, now=NOW) is not None
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["event_id"] == events[-1].id
    assert check_anchors(session, path, key=KEY).ok


def test_deleting_the_newest_rows_verifies_as_a_chain_but_breaks_the_anchor(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "anchors.jsonl"
    events = _events(session, 6)
    write_anchor(session, path, key=KEY, now=NOW)
    drop_append_only_guard(session)
    session.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": events[4].id})
    session.commit()
    session.expire_all()

    assert verify_chain(session, key=KEY).ok  # the shorter chain is consistent…
    report = check_anchors(session, path, key=KEY)  # …but not what was anchored
    assert not report.ok
    (problem,) = report.problems
    assert problem.event_id == events[-1].id
    assert "newest rows were deleted" in problem.reason
    assert f"ends at event {events[3].id}" in problem.reason


def test_a_rewritten_tail_with_new_rows_after_it_breaks_the_anchor(
    session: Session, tmp_path: Path
) -> None:
    """Cut the tail and append a forged one with the key: the chain verifies, and even the
    ids may come back (SQLite reuses them), but the anchored event's hash is another."""
    path = tmp_path / "anchors.jsonl"
    events = _events(session, 4)
    write_anchor(session, path, key=KEY, now=NOW)
    drop_append_only_guard(session)
    session.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": events[2].id})
    session.commit()
    _events(session, 3)
    session.expire_all()
    assert verify_chain(session, key=KEY).ok
    report = check_anchors(session, path, key=KEY)
    assert not report.ok
    assert report.problems[0].event_id == events[-1].id


def test_a_forged_anchor_line_is_named(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    _events(session, 2)
    write_anchor(session, path, key=KEY, now=NOW)
    entry = json.loads(path.read_text())
    entry["events"] = 1
    path.write_text(json.dumps(entry) + "\n" + "not json\n")
    report = check_anchors(session, path, key=KEY)
    assert [p.line for p in report.problems] == [1, 2]
    assert "forged" in report.problems[0].reason
    assert "cannot be read" in report.problems[1].reason


def test_housekeeping_anchors_and_verify_reports_a_cut_log(app: Flask, session: Session) -> None:
    from app.audit.cli import audit

    key = runtime(app).keys.audit
    events = _events(session, 5, key=key)
    report = tidy(runtime(app))
    assert report.anchored_event == events[-1].id
    assert runtime(app).settings.audit_anchors.is_file()

    runner = app.test_cli_runner()
    ok = runner.invoke(audit, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "1 anchors hold" in ok.output

    drop_append_only_guard(session)
    session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": events[-1].id})
    session.commit()
    broken = runner.invoke(audit, ["verify"])
    assert broken.exit_code == 1
    assert "audit chain BROKEN" not in broken.output
    assert f"event {events[-1].id}" in broken.output
    assert "newest rows were deleted" in broken.output


def test_the_anchor_command_writes_the_head(app: Flask, session: Session) -> None:
    from app.audit.cli import audit

    events = _events(session, 2, key=runtime(app).keys.audit)
    runner = app.test_cli_runner()
    first = runner.invoke(audit, ["anchor"])
    assert first.exit_code == 0, first.output
    assert f"anchored event {events[-1].id} (2 events)" in first.output
    again = runner.invoke(audit, ["anchor"])
    assert "nothing new to anchor" in again.output
