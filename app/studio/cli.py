"""``photogate studio …``: assignments, tokens, retries, the feature index, retention, and
the upload tool."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.runtime import Runtime

logger = logging.getLogger(__name__)


@click.group()
def studio() -> None:
    """Photographers' studio: events, uploads and the school's retention."""


def _runtime() -> Runtime:
    from app.web.context import runtime

    return runtime()


def _audit(
    session: Session, action: str, subject: str, details: dict[str, str | int | bool | None]
) -> None:
    from app.audit.models import ActorKind
    from app.audit.services import record

    record(
        session,
        key=_runtime().keys.audit,
        action=action,
        actor_kind=ActorKind.SYSTEM,
        subject=subject,
        details=details,
        now=_runtime().now(),
    )


@studio.command("assign")
@click.option("--event", "event_id", type=int, required=True, help="Event id.")
@click.option("--photographer", "email", required=True, help="The photographer's e-mail.")
@click.option("--remove", is_flag=True, help="Remove the assignment instead.")
@with_appcontext
def assign_command(event_id: int, email: str, remove: bool) -> None:
    """Assign a photographer to an event (or remove them with --remove)."""
    from app.auth.policies import SYSTEM
    from app.errors import AppError
    from app.photos.models import Event
    from app.studio.services import (
        assign_photographer,
        find_staff_by_email,
        unassign_photographer,
    )

    with _runtime().database.session_scope() as session:
        event = session.get(Event, event_id)
        if event is None:
            raise click.ClickException(f"no event {event_id}")
        photographer = find_staff_by_email(session, email)
        if photographer is None:
            raise click.ClickException(f"no staff account {email}")
        try:
            if remove:
                changed = unassign_photographer(session, SYSTEM, event, photographer)
            else:
                changed = assign_photographer(session, SYSTEM, event, photographer)
        except AppError as error:
            raise click.ClickException(error.message or "refused") from None
        action = "unassigned" if remove else "assigned"
        if changed:
            _audit(
                session,
                f"studio.photographer_{action}",
                f"event:{event.id}",
                {"photographer": photographer.id},
            )
    click.echo(f"{photographer.email} {action} {'from' if remove else 'to'} event {event.id}")


@studio.command("token")
@click.argument("email")
@click.option("--name", default="upload tool", show_default=True, help="What the token is for.")
@with_appcontext
def token_command(email: str, name: str) -> None:
    """Create an API token for a photographer and print it (shown only this once)."""
    from app.errors import AppError
    from app.studio.services import create_api_token, find_staff_by_email

    with _runtime().database.session_scope() as session:
        photographer = find_staff_by_email(session, email)
        if photographer is None:
            raise click.ClickException(f"no staff account {email}")
        try:
            issued = create_api_token(session, photographer, name, now=_runtime().now())
        except AppError as error:
            raise click.ClickException(error.message or "only photographers have tokens") from None
        _audit(
            session,
            "studio.token_created",
            f"api_token:{issued.record.id}",
            {"by": "command line"},
        )
    click.echo(issued.token)


@studio.command("retry")
@click.option("--event", "event_id", type=int, default=None, help="Only this event.")
@with_appcontext
def retry_command(event_id: int | None) -> None:
    """Queue failed photos, and pending ones whose job was lost, again.

    Pending photos whose job is not in the queue are queued again once they have waited a
    minute (the reaper, which every worker also runs between jobs)."""
    from app.auth.policies import SYSTEM
    from app.photos.jobs import enqueue_processing
    from app.photos.models import Event
    from app.photos.processing import retryable_photos
    from app.photos.reaper import reap
    from app.studio.services import retry_photo

    runtime = _runtime()
    now = runtime.now()
    with runtime.database.session_scope() as session:
        event = session.get(Event, event_id) if event_id is not None else None
        if event_id is not None and event is None:
            raise click.ClickException(f"no event {event_id}")
        photos = retryable_photos(session, now, event)
        for photo in photos:
            retry_photo(session, SYSTEM, photo, now=now)
        ids = [photo.id for photo in photos]
    enqueue_processing(runtime, ids)
    # Photos still pending whose job was lost (Redis down, a worker killed) go too.
    lost = reap(runtime).requeued
    click.echo(f"{len(ids)} photos queued again, {len(lost)} more whose job was lost")


@studio.command("reindex")
@click.option("--event", "event_id", type=int, default=None, help="Only this event.")
@click.option(
    "--all", "everything", is_flag=True, help="Remake every ready photo's row, not only old ones."
)
@with_appcontext
def reindex_command(event_id: int | None, everything: bool) -> None:
    """Make the feature-index rows of ready photos processed before the processing job made
    them, or made under an older scheme (the leak investigation's crop-robust index).

    Commits every 50 photos, so an interrupted run keeps what it made; run it again to go on.
    """
    from app.photos.features import photos_to_index, reindex
    from app.photos.models import Event

    runtime = _runtime()
    with runtime.database.session_scope() as session:
        event = session.get(Event, event_id) if event_id is not None else None
        if event_id is not None and event is None:
            raise click.ClickException(f"no event {event_id}")
        ids = photos_to_index(session, event=event, everything=everything)
    made = failed = 0
    for first in range(0, len(ids), 50):
        with runtime.database.session_scope() as session:
            done, broken = reindex(
                session, runtime.blobs, ids[first : first + 50], now=runtime.now()
            )
        made, failed = made + done, failed + broken
    click.echo(f"{made} photos indexed, {failed} could not be (see the log)")


@studio.command("retention")
@click.option("--dry-run", is_flag=True, help="Only list what is due.")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
def retention_command(dry_run: bool, batch: int) -> None:
    """Delete photos whose retention ran out (run daily from cron)."""
    from app.studio.services import delete_blobs, purge_due_at, purge_expired_photos
    from app.studio.services.retention import due_events

    runtime = _runtime()
    blobs = runtime.blobs
    now = runtime.now()
    database = runtime.database
    if dry_run:
        with database.session_scope() as session:
            for event in due_events(session, now):
                click.echo(
                    f"event {event.id} ({event.title}): due since {purge_due_at(event):%Y-%m-%d}"
                )
        return
    photos = deleted = 0
    while True:
        with database.session_scope() as session:
            result = purge_expired_photos(session, blobs, now=now, limit=batch)
            for event_id, count in result.events.items():
                _audit(session, "studio.retention_purge", f"event:{event_id}", {"photos": count})
        # Committed: the keys are gone, so the files are unreadable even if deleting fails.
        deleted += delete_blobs(blobs.store, result.doomed)
        photos += result.photos
        if result.photos < batch:
            break
    logger.info("retention run: %d photos purged, %d blobs deleted", photos, deleted)
    click.echo(f"{photos} photos purged, {deleted} blob files deleted")


@studio.command("upload")
@click.option("--event", "event_id", type=int, required=True, help="Event id.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--url", default="http://127.0.0.1:5000", show_default=True, help="The PhotoGate site."
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the API token (keeps it out of the process list).",
)
@click.option("--token", envvar="PHOTOGATE_API_TOKEN", help="The API token ($PHOTOGATE_API_TOKEN).")
@click.option("--album", "album_id", type=int, default=None, help="Album id within the event.")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 8))
@click.option("--retry-failed", is_flag=True, help="Queue photos that failed processing again.")
@click.option("--language", type=click.Choice(["ja", "en"]), default=None)
def upload_command(
    *,
    event_id: int,
    directory: Path,
    url: str,
    token_file: Path | None,
    token: str | None,
    album_id: int | None,
    jobs: int,
    retry_failed: bool,
    language: str | None,
) -> None:
    """Upload every photo in DIRECTORY the event does not have yet (safe to run again)."""
    from app.studio.client import ClientError, FileResult, StudioClient, upload_directory

    if token is None and token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise click.UsageError("give --token-file, --token or PHOTOGATE_API_TOKEN")
    client = StudioClient(url, token, language=language)

    def show(result: FileResult) -> None:
        detail = f": {result.message}" if result.message else ""
        click.echo(f"{result.outcome:<9} {result.path}{detail}")

    try:
        report = upload_directory(
            client,
            event_id,
            directory,
            album_id=album_id,
            jobs=jobs,
            retry_failed=retry_failed,
            on_result=show,
        )
    except ClientError as error:
        raise click.ClickException(str(error)) from None
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)
