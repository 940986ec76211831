"""``photogate audit …``: check the whole hash chain of the audit log."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group()
def audit() -> None:
    """The append-only audit log."""


@audit.command("verify")
@with_appcontext
def verify_command() -> None:
    """Recompute every link of the chain; exit 1 and name the first bad event if one fails."""
    from app.audit.services import verify_chain
    from app.web.context import database, keys

    with database().session_scope(write=False) as session:
        report = verify_chain(session, key=keys().audit)
    if not report.ok:
        click.echo(f"audit chain BROKEN at event {report.first_bad_id}: {report.reason}")
        raise SystemExit(1)
    click.echo(f"audit chain verifies: {report.events} events")
