"""Run Alembic migrations from code (the CLI, tests and start-up use the same path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None, connection: Any = None) -> Config:
    """An Alembic config pointing at ``migrations/``; env.py reads Settings otherwise."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    database_url: str | None = None, revision: str = "head", connection: Any = None
) -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(database_url, connection), revision)
