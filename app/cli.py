"""The ``photogate`` command: database, demo data, the development server, feature groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from app import create_app
from app.config import ConfigError, Settings
from app.web.context import runtime
from app.web.registry import register_commands

if TYPE_CHECKING:
    from app.auth.local_provider import LocalProvider


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

    upgrade(runtime().settings.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("grant-app")
@click.argument("role")
@with_appcontext
def db_grant_app(role: str) -> None:
    """Give ROLE (the role the portal runs as) its rights; none to change audit rows.

    PostgreSQL only. Run as the schema's owner after every upgrade.
    """
    from app.audit.grants import NotPostgres, grant_app_role

    try:
        with runtime().database.engine.begin() as connection:
            schema = grant_app_role(connection, role)
    except NotPostgres as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{role} may read and write {schema}; audit_events only SELECT and INSERT")


@cli.command()
@with_appcontext
def demo() -> None:
    """Create (or refresh) the demo school and print its sign-in details."""
    from app.demo import seed_demo

    if runtime().settings.is_production:
        raise click.ClickException("the demo school is never created in production")
    with runtime().database.session_scope() as session:
        report = seed_demo(session, runtime())
    click.echo(report.render())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the development server (production uses gunicorn, see docker/)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if runtime().settings.is_production:
        raise click.ClickException("use gunicorn in production (see docker/)")
    provider = _start_local_provider(app, runtime().settings)
    _recover_interrupted_work()
    _start_housekeeping(runtime())
    click.echo(f"PhotoGate on http://{host}:{port}  (Ctrl+C stops it)")
    # run_simple, not app.run(): Flask ignores app.run() inside its own CLI.
    from werkzeug.serving import run_simple

    try:
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        if provider is not None:
            provider.stop()


#: Seconds between housekeeping runs of the development server (no worker runs them).
HOUSEKEEPING_EVERY = 300


def _start_housekeeping(held: Any) -> None:
    """Run the housekeeping now and then every few minutes in a daemon thread."""
    import threading

    from app.housekeeping import tidy

    def loop() -> None:
        stop = threading.Event()
        while True:
            tidy(held)
            stop.wait(HOUSEKEEPING_EVERY)

    threading.Thread(target=loop, name="housekeeping", daemon=True).start()


@cli.command("tidy")
@with_appcontext
def tidy_command() -> None:
    """Expire unpaid orders and clear old marked previews (for a cron job; the worker and
    the development server already run this every few minutes)."""
    from app.housekeeping import tidy

    report = tidy(runtime())
    click.echo(
        f"{report.expired_orders} unpaid orders expired; "
        f"{report.preview_deliveries_cleared} preview deliveries' copies cleared"
    )


def _recover_interrupted_work() -> None:
    """What a process killed mid-request left behind: temporary blob files, and photos
    stored but never processed (the embedded default processes them now)."""
    from app.photos.blobs import sweep_abandoned_writes
    from app.photos.reaper import reap

    sweep_abandoned_writes(runtime().blobs)
    recovered = reap(runtime()).requeued
    if recovered:
        click.echo(f"{len(recovered)} photos left pending by an interrupted run were processed")


def _start_local_provider(app: Flask, settings: Settings) -> LocalProvider | None:
    """Start the demo families' OpenID provider (development only, never in production)."""
    from app.auth.demo_logins import demo_users
    from app.auth.local_provider import (
        ClientSpec,
        LocalProvider,
        LocalProviderError,
        ensure_installed,
    )
    from app.auth.setup import LOCAL_CLIENT_ID, local_provider_config

    config = local_provider_config(settings)
    if config is None or settings.env != "development":
        return None
    client = ClientSpec(
        client_id=LOCAL_CLIENT_ID,
        client_secret=config.client_secret_file.read_text().strip(),
        redirect_uris=[f"{settings.public_url}/auth/callback/{config.name}"],
    )
    try:
        ensure_installed()
        provider = LocalProvider(
            clients=[client],
            users=demo_users(app.config["SECRET_KEY"]),
            port=settings.local_oidc_port,
        ).start()
    except LocalProviderError as error:
        raise click.ClickException(f"the local OpenID provider did not start: {error}") from None
    click.echo(f"Demo OpenID provider on {provider.issuer}")
    return provider


@cli.command()
@click.option(
    "--reap-every",
    default=60,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds between looks for photos whose job was lost.",
)
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (tests, one-off runs).")
@with_appcontext
def worker(reap_every: int, burst: bool) -> None:
    """Process background jobs from Redis (production; the embedded default runs them inline).

    On start and between jobs (every --reap-every seconds) the worker also queues again
    every photo whose job was lost; see app/photos/reaper.py.
    """
    from app.jobs import QUEUE_NAME, register_worker_runtime
    from app.photos.jobs import warm_up
    from app.photos.worker import PhotoWorker

    queue = runtime().jobs.redis
    if queue is None:
        raise click.ClickException("PHOTOGATE_REDIS_URL is not set: jobs already run inline")
    # Loaded and warmed once here, so each forked job starts with the imaging ready and
    # this process's runtime (its pool replaced in each child).
    from redis.exceptions import RedisError

    warm_up()
    register_worker_runtime(runtime())
    while True:
        _wait_for_redis(queue)
        try:
            PhotoWorker([QUEUE_NAME], connection=queue, reap_every=reap_every).work(burst=burst)
        except (RedisError, OSError) as error:
            # RQ gives up when Redis goes away under it; this process does not: it waits
            # for Redis and starts a fresh worker, whose first act is the reaper's.
            click.echo(f"lost Redis ({error}); the worker starts again", err=True)
            if burst:
                raise click.ClickException("Redis went away during a burst run") from None
            continue
        return


def _wait_for_redis(connection: Any) -> None:
    """A worker started while Redis is away waits for it instead of dying."""
    import time

    from redis.exceptions import RedisError

    pause = 1.0
    while True:
        try:
            connection.ping()
            return
        except (RedisError, OSError) as error:
            click.echo(f"waiting for Redis ({error}); next try in {pause:.0f} s", err=True)
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


def main() -> None:
    """Console-script entry point."""
    register_commands(cli)
    cli.main(prog_name="photogate")
