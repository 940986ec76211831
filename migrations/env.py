"""Alembic environment: the database URL comes from the same Settings as the app."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from app import models
from app.config import Settings
from app.db import UTCDateTime, make_engine

config = context.config
target_metadata = models.Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    return Settings.from_env().database_url


def _render_item(type_: str, obj: object, _context: object) -> str | bool:
    # Migrations must not import app code: render our aware-UTC type as its plain column.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, enabled=False)
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                _sqlite_foreign_keys(connection, enabled=True)
    finally:
        engine.dispose()


def _sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    """Batch mode rebuilds a SQLite table by copying and dropping it; with foreign keys on,
    dropping a table others refer to would cascade into them. They are off while migrating
    (the pragma only works outside a transaction) and checked when switched back on."""
    raw = connection.connection.driver_connection
    if raw is None:  # pragma: no cover - a live SQLite connection always has one
        raise RuntimeError("no SQLite connection to configure")
    raw.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    if enabled:
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows that break foreign keys: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
