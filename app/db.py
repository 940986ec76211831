"""Declarative base, column types, engine creation and units of work (no Flask).

Services receive a :class:`~sqlalchemy.orm.Session`, ``flush()`` and never ``commit()``;
the request (:mod:`app.web.context`) or the CLI command or job that owns the transaction
commits.  A unit of work that writes begins its transaction as a writer on SQLite
(``BEGIN IMMEDIATE``): SQLite refuses at once, instead of waiting, a transaction that read
first and then wants to write while another connection writes.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Enum, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

#: Execution option of the engine that opens write transactions (see the module docstring).
WRITER_OPTION = "photogate_writer"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend.

    SQLite stores no offset, so values come back naive; this type refuses naive values on
    the way in (a naive time is a bug) and marks values UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def str_enum(enum_class: type[enum.StrEnum], name: str, length: int) -> Enum:
    """A string-enum column stored as its values in VARCHAR(length) with a CHECK constraint.

    Not a native PostgreSQL enum: adding a member then needs no ALTER TYPE, and SQLite and
    PostgreSQL hold the same schema.
    """
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


def changed_rows(session: Session, statement: Executable, *, synchronize: Any = False) -> int:
    """Run a bulk UPDATE or DELETE and return how many rows it changed.

    The race-safe way to spend something once: ``UPDATE … WHERE used_at IS NULL`` changes
    one row for the request that wins and none for any other.
    """
    result = session.execute(statement.execution_options(synchronize_session=synchronize))
    return int(getattr(result, "rowcount", 0) or 0)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy API)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys and working SAVEPOINTs."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if not database or database == ":memory:":
            kwargs.setdefault("poolclass", StaticPool)
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _install_sqlite_hooks(engine: Engine) -> None:
    # Python 3.11's sqlite3 driver opens transactions lazily and ignores BEGIN around
    # SAVEPOINT, so a test's nested commit would survive its rollback. Taking control of
    # BEGIN ourselves is the documented SQLAlchemy recipe.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock first and waits for it (busy_timeout) rather than
        # failing with "database is locked" when it upgrades from reading.
        writer = conn.get_execution_options().get(WRITER_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class Database:
    """The engine and session factories of one application (or worker, or command)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessionmaker: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self.writer_sessionmaker: sessionmaker[Session] = sessionmaker(
            bind=engine.execution_options(**{WRITER_OPTION: True}), expire_on_commit=False
        )

    def bind_to(self, connection: Any) -> None:
        """Make every session join ``connection``'s transaction (tests roll it back)."""
        joined: sessionmaker[Session] = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        self.sessionmaker = joined
        self.writer_sessionmaker = joined

    def session(self, *, write: bool = False) -> Session:
        """A new session; ``write`` for one whose transactions write (see the docstring)."""
        return (self.writer_sessionmaker if write else self.sessionmaker)()

    @contextmanager
    def session_scope(self, *, write: bool = True) -> Iterator[Session]:
        """A unit of work for commands and jobs: commit on success, roll back on error."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
