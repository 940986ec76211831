"""Helpers of the audit tests."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def drop_append_only_guard(session: Session) -> None:
    """Play an attacker with DDL rights: drop the triggers that forbid UPDATE and DELETE
    (each test's schema or database is its own, so nothing else sees it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
