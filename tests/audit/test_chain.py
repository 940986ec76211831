"""The audit log: an HMAC hash chain that breaks when any row is changed, and append-only."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from app.audit.models import ActorKind, AuditEvent
from app.audit.services import GENESIS_HASH, ip_prefix, record, verify_chain, verify_window
from app.keys import AUDIT_INFO, derive_key
from app.web.context import runtime
from tests.audit.support import drop_append_only_guard

KEY = derive_key(b"k" * 64, AUDIT_INFO)


def _three(session: Session) -> list[AuditEvent]:
    events = [
        record(
            session,
            key=KEY,
            action="auth.sign_in",
            actor_kind=ActorKind.GUARDIAN,
            actor_id=1,
            subject="guardian:1",
            ip="203.0.113.77",
            details={"provider": "x"},
        ),
        record(
            session,
            key=KEY,
            action="auth.staff_locked",
            ip="2001:db8:1:2::5",
            details={"email_sha256": "ab"},
        ),
        record(session, key=KEY, action="family.code_claimed", subject="family:3"),
    ]
    session.commit()
    return events


def test_events_chain_from_genesis_and_verify(session: Session) -> None:
    events = _three(session)
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash
    session.expire_all()
    report = verify_chain(session, key=KEY)
    assert report.ok
    assert report.events == 3


def test_ip_addresses_are_kept_as_prefixes_only() -> None:
    assert ip_prefix("203.0.113.77") == "203.0.113.0/24"
    assert ip_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert ip_prefix("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert ip_prefix("not an address") == ""


def test_the_chain_does_not_verify_with_another_key(session: Session) -> None:
    _three(session)
    assert not verify_chain(session, key=derive_key(b"other" * 13, AUDIT_INFO)).ok


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        (
            "UPDATE audit_events SET subject = 'guardian:2' WHERE id = :id",
            "event content does not match its hash",
        ),
        (
            "UPDATE audit_events SET ip_prefix = '192.0.2.0/24' WHERE id = :id",
            "event content does not match its hash",
        ),
        ("DELETE FROM audit_events WHERE id = :id", "link to the previous event is broken"),
    ],
)
def test_tampering_with_a_row_breaks_verification(
    session: Session, statement: str, reason: str
) -> None:
    events = _three(session)
    middle = events[1].id if statement.startswith("DELETE") else events[0].id
    drop_append_only_guard(session)
    session.execute(text(statement), {"id": middle})
    session.commit()
    session.expire_all()
    report = verify_chain(session, key=KEY)
    assert not report.ok
    assert report.reason == reason


def test_rows_cannot_be_updated_or_deleted(session: Session) -> None:
    events = _three(session)
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ):
        with pytest.raises(DatabaseError), session.begin_nested():
            session.execute(text(statement), {"id": events[0].id})
    session.expire_all()
    assert verify_chain(session, key=KEY).ok


def test_app_key_is_derived_from_the_flask_secret(app: Flask) -> None:
    assert runtime(app).keys.audit == derive_key(app.config["SECRET_KEY"], AUDIT_INFO)
    assert runtime(app).keys.audit != app.config["SECRET_KEY"]


def _many(session: Session, count: int, key: bytes = KEY) -> list[AuditEvent]:
    return [
        record(session, key=key, action="test.event", subject=f"n:{n}", details={"n": n})
        for n in range(count)
    ]


def test_the_window_check_reads_only_the_newest_events(session: Session) -> None:
    """The audit page's check costs the same however long the log is: an edit older than
    its window is not its to find (the full check finds it), an edit inside it is."""
    events = _many(session, 12)
    drop_append_only_guard(session)
    session.execute(
        text("UPDATE audit_events SET subject = 'forged' WHERE id = :id"), {"id": events[2].id}
    )
    session.commit()
    session.expire_all()

    window = verify_window(session, key=KEY, limit=5)
    assert [event.id for event in window.events] == [e.id for e in reversed(events[-5:])]
    assert window.report.ok
    assert window.report.events == 5
    full = verify_chain(session, key=KEY)
    assert not full.ok
    assert full.first_bad_id == events[2].id

    session.execute(
        text("UPDATE audit_events SET subject = 'forged' WHERE id = :id"), {"id": events[-2].id}
    )
    session.commit()
    session.expire_all()
    inside = verify_window(session, key=KEY, limit=5)
    assert not inside.report.ok
    assert inside.report.first_bad_id == events[-2].id


def test_the_window_check_sees_a_deleted_event_at_its_edge(session: Session) -> None:
    events = _many(session, 8)
    drop_append_only_guard(session)
    # The oldest event shown links to the one before it, which is gone.
    session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": events[-4].id})
    session.commit()
    session.expire_all()
    report = verify_window(session, key=KEY, limit=3).report
    assert not report.ok
    assert report.reason == "link to the previous event is broken"


def test_audit_verify_command_names_the_first_bad_event(app: Flask, session: Session) -> None:
    from app.audit.cli import audit

    events = _many(session, 4, key=runtime(app).keys.audit)
    session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(audit, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "verifies" in ok.output

    drop_append_only_guard(session)
    session.execute(
        text("UPDATE audit_events SET action = 'x' WHERE id = :id"), {"id": events[1].id}
    )
    session.commit()
    broken = runner.invoke(audit, ["verify"])
    assert broken.exit_code == 1
    assert f"BROKEN at event {events[1].id}" in broken.output
