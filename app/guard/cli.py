"""``photogate guard …``: the report of what the guard saw and did, and the retention purge."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask.cli import with_appcontext


def _parse_since(value: str | None) -> dt.datetime | None:
    """An ISO time ("2026-12-01", "2026-12-01T08:00:00+09:00") or a span ("24h", "7d")."""
    if value is None:
        return None
    text = value.strip()
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units and len(text) <= 8:
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "give an ISO time (2026-12-01T08:00) or a span (24h, 7d)", param_hint="--since"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@click.group()
def guard() -> None:
    """Shared and traded family logins."""


@guard.command("report")
@click.option("--since", "since", default=None, help="ISO time or span (24h, 7d)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@with_appcontext
def report_command(since: str | None, as_json: bool) -> None:
    """Per account, device and network: score, rules with evidence, step reached and when."""
    from app.guard.services import report
    from app.web.context import database

    moment = _parse_since(since)
    with database().session_scope(write=False) as session:
        rows = report(session, since=moment)
    if as_json:
        click.echo(
            json.dumps(
                {"since": moment.isoformat() if moment else None, "entities": rows},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for row in rows:
        rules = ", ".join(f"{r['rule']}+{r['points']}" for r in row["rules"])
        click.echo(
            f"{row['reference']} {row['entity'][:60]} score={row['score']} step={row['step']} "
            f"at={row['step_at']} status={row['status']} rules={rules}"
        )


@guard.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete signals and alerts older than 90 days."""
    from app.guard.services import purge
    from app.guard.watch import signal_store
    from app.web.context import database, now

    with database().session_scope() as session:
        signals, alerts = purge(session, signal_store(), now=now())
    click.echo(f"deleted {signals} signals and {alerts} alerts older than 90 days")
