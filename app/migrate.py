"""Run Alembic migrations from code (the CLI, tests and start-up use the same path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent
# An installed wheel carries the migrations inside the package (setup.py copies them there);
# a checkout (editable install) keeps them beside it. The package comes first: next to an
# installed package is site-packages, where a `migrations` directory would be someone else's.
_LOCATIONS = (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parent / "migrations")


def migrations_dir() -> Path:
    """The Alembic script directory: ``app/_migrations`` when installed, else ``migrations/``."""
    for location in _LOCATIONS:
        if (location / "env.py").is_file():
            return location
    searched = ", ".join(str(location) for location in _LOCATIONS)
    raise FileNotFoundError(f"no Alembic migrations found (looked in {searched})")


def alembic_config(database_url: str | None = None, connection: Any = None) -> Config:
    """An Alembic config pointing at the migrations; env.py reads Settings otherwise."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
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
