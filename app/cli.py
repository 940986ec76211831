"""The ``photogate`` command: database, demo data, the development server, feature groups."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from app import create_app
from app.config import ConfigError


def _create_app() -> Flask:
    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def cli() -> None:
    """PhotoGate: school photo sales where every download is traceable."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from app.migrate import upgrade

    upgrade(current_app.extensions["photogate.settings"].database_url, revision)
    click.echo(f"database at {revision}")


@cli.command()
@with_appcontext
def demo() -> None:
    """Create (or refresh) the demo school and print its sign-in details."""
    from app.db import get_database
    from app.demo import seed_demo

    settings = current_app.extensions["photogate.settings"]
    if settings.is_production:
        raise click.ClickException("the demo school is never created in production")
    with get_database().session_scope() as session:
        report = seed_demo(session, current_app)
    click.echo(report.render())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the development server (production uses gunicorn, see docker/)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = app.extensions["photogate.settings"]
    if settings.is_production:
        raise click.ClickException("use gunicorn in production (see docker/)")
    click.echo(f"PhotoGate on http://{host}:{port}  (Ctrl+C stops it)")
    # run_simple, not app.run(): Flask ignores app.run() inside its own CLI.
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@cli.command()
@with_appcontext
def worker() -> None:
    """Process background jobs from Redis (production; the embedded default runs them inline)."""
    from redis import Redis
    from rq import Worker

    from app.jobs import QUEUE_NAME

    settings = current_app.extensions["photogate.settings"]
    if not settings.redis_url:
        raise click.ClickException("PHOTOGATE_REDIS_URL is not set: jobs already run inline")
    Worker([QUEUE_NAME], connection=Redis.from_url(settings.redis_url)).work()


def _register_feature_groups() -> None:
    """Feature command groups (``photogate watermark …``) are added here."""


def main() -> None:
    """Console-script entry point."""
    _register_feature_groups()
    cli.main(prog_name="photogate")
