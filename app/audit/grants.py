"""The database role the application runs as, on PostgreSQL: everything it needs, and no
way to rewrite the audit log.

Migrations run as the schema's owner. The web and worker processes should connect as a
second role that owns nothing, so it can neither change audit rows nor drop the triggers
that forbid it. :func:`grant_app_role` gives that role its rights on the current schema;
run it (``photogate db grant-app ROLE``) after every ``photogate db upgrade``, since a new
table is granted only when it exists.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: The one table the application may only read and append to.
AUDIT_TABLE = "audit_events"


class NotPostgres(Exception):
    """Grants exist on PostgreSQL only (SQLite has no roles)."""


def grant_app_role(connection: Connection, role: str) -> str:
    """Grant ``role`` what the application needs on the current schema; returns the schema.

    Read and write on every table, except UPDATE, DELETE and TRUNCATE on the audit log;
    sequences for new ids. Idempotent: run it again after a migration adds tables.
    """
    if connection.dialect.name != "postgresql":
        raise NotPostgres("database roles exist on PostgreSQL only")
    quote = connection.dialect.identifier_preparer.quote
    schema = connection.scalar(text("SELECT current_schema()"))
    if not schema:
        raise NotPostgres("no current schema")
    who, where = quote(role), quote(str(schema))
    for statement in (
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {where}.{quote(AUDIT_TABLE)}"
        f" FROM {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
    ):
        connection.execute(text(statement))
    return str(schema)
