"""On PostgreSQL the portal's own role can append to the audit log and read it, and can
neither change nor remove a row of it, not even by dropping the triggers or truncating."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.audit.grants import NotPostgres, grant_app_role
from app.audit.models import AuditEvent
from app.audit.services import record, verify_chain
from app.db import make_engine
from app.keys import AUDIT_INFO, derive_key
from tests.conftest import create_scratch_database

KEY = derive_key(b"k" * 64, AUDIT_INFO)
INSUFFICIENT_PRIVILEGE = "42501"
RAISED_BY_TRIGGER = "P0001"


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    """A database of its own: these tests commit, which the shared one must not see."""
    scratch = create_scratch_database(tmp_path, "approle")
    engine = make_engine(scratch.url)
    yield engine
    engine.dispose()
    scratch.drop()


@pytest.fixture
def app_role(own_engine: Engine) -> Iterator[str]:
    """A role like the one the portal runs as: owns nothing, granted by the command."""
    role = f"photogate_app_{secrets.token_hex(4)}"
    with own_engine.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        grant_app_role(connection, role)
    yield role
    with own_engine.begin() as connection:
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))


def _sqlstate(error: DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", ""))


@pytest.mark.postgres
def test_the_app_role_appends_and_reads_but_cannot_rewrite_the_log(
    own_engine: Engine, app_role: str
) -> None:
    engine = own_engine
    with Session(engine) as session:
        session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
        first = record(session, key=KEY, action="test.first", subject="n:1")
        record(session, key=KEY, action="test.second", subject="n:2")
        session.commit()
        session.execute(text(f'SET LOCAL ROLE "{app_role}"'))
        assert verify_chain(session, key=KEY).events == 2

        for statement, refused_with in (
            ("UPDATE audit_events SET subject = 'forged' WHERE id = :id", INSUFFICIENT_PRIVILEGE),
            ("DELETE FROM audit_events WHERE id = :id", INSUFFICIENT_PRIVILEGE),
            ("TRUNCATE audit_events", INSUFFICIENT_PRIVILEGE),
            ("DROP TRIGGER audit_events_append_only ON audit_events", INSUFFICIENT_PRIVILEGE),
            ("ALTER TABLE audit_events DISABLE TRIGGER ALL", INSUFFICIENT_PRIVILEGE),
        ):
            with pytest.raises(DBAPIError) as refused, session.begin_nested():
                session.execute(text(statement), {"id": first.id})
            assert _sqlstate(refused.value) == refused_with, statement

        # The rest of the schema stays writable: the portal works as that role.
        session.execute(text("UPDATE schools SET name = name WHERE id = 0"))
        session.execute(text("DELETE FROM user_sessions WHERE id = 0"))
        session.rollback()

    with Session(engine) as session:
        assert session.query(AuditEvent).count() == 2
        assert verify_chain(session, key=KEY).ok


@pytest.mark.postgres
def test_truncate_is_refused_even_for_the_owner(session: Session) -> None:
    """The row triggers do not fire for TRUNCATE; a statement trigger does."""
    record(session, key=KEY, action="test.event")
    session.commit()
    before = session.query(AuditEvent).count()
    with pytest.raises(DBAPIError) as refused, session.begin_nested():
        session.execute(text("TRUNCATE audit_events"))
    assert _sqlstate(refused.value) == RAISED_BY_TRIGGER
    assert "append-only" in str(refused.value)
    assert session.query(AuditEvent).count() == before >= 1


@pytest.mark.postgres
def test_the_grant_command_grants_the_role(app: Flask, app_role: str) -> None:
    from app.cli import db_grant_app

    result = app.test_cli_runner().invoke(db_grant_app, [app_role])
    assert result.exit_code == 0, result.output
    assert "audit_events only SELECT and INSERT" in result.output


def test_the_grant_needs_postgresql() -> None:
    """SQLite has no roles: the command says so instead of pretending."""
    from sqlalchemy import create_engine

    with create_engine("sqlite://").connect() as connection, pytest.raises(NotPostgres):
        grant_app_role(connection, "anyone")
