"""``photogate audit …``: check the whole hash chain of the audit log and its anchors."""

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
    from app.audit.anchors import check_anchors
    from app.audit.services import verify_chain
    from app.web.context import database, keys, runtime

    path = runtime().settings.audit_anchors
    with database().session_scope(write=False) as session:
        report = verify_chain(session, key=keys().audit)
        anchored = check_anchors(session, path, key=keys().audit)
    if not report.ok:
        click.echo(f"audit chain BROKEN at event {report.first_bad_id}: {report.reason}")
    for problem in anchored.problems:
        click.echo(f"audit anchor BROKEN ({path}, line {problem.line}): {problem.reason}")
    if not report.ok or not anchored.ok:
        raise SystemExit(1)
    click.echo(f"audit chain verifies: {report.events} events; {anchored.anchors} anchors hold")


@audit.command("anchor")
@with_appcontext
def anchor_command() -> None:
    """Append the chain's head to the anchor file (housekeeping does this too)."""
    from app.audit.anchors import write_anchor
    from app.web.context import database, keys, now, runtime

    path = runtime().settings.audit_anchors
    with database().session_scope(write=False) as session:
        anchor = write_anchor(session, path, key=keys().audit, now=now())
    if anchor is None:
        click.echo(f"nothing new to anchor in {path}")
    else:
        click.echo(f"anchored event {anchor.event_id} ({anchor.events} events) in {path}")
