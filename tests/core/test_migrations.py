from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from app.db import make_engine
from app.migrate import alembic_config
from app.models import Base
from tests.conftest import create_scratch_database


def test_schema_at_head_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_have_a_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    scratch = create_scratch_database(tmp_path, "updown")
    try:
        config = alembic_config(scratch.url)
        command.downgrade(config, "base")
        engine = make_engine(scratch.url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        command.upgrade(config, "head")
        engine = make_engine(scratch.url)
        assert {"schools", "guardians", "photos"} <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        scratch.drop()
