"""What the studio's page views and its JSON API share: look-ups that apply the policies,
the upload handler, and the JSON shape of a photo."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, request
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.auth.models import StaffUser
from app.auth.policies import require
from app.clock import now
from app.db import db_session
from app.errors import Invalid, NotFound
from app.gallery.models import Album, Event, Photo, PhotoStatus
from app.studio.i18n import _
from app.studio.jobs import app_blobs, app_limits, enqueue_processing
from app.studio.policies import can_upload_to_event, knows_event
from app.studio.reasons import reason_text
from app.studio.services import (
    UploadOutcome,
    UploadStatus,
    accept_upload,
    album_in_event,
    awaiting_review,
    can_be_retried,
)

logger = logging.getLogger(__name__)


def running_app() -> Flask:
    """The application object behind ``current_app`` (jobs need the real one)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def end_reads(session: Session) -> None:
    """Close the request's reading transaction before a write.

    SQLite cannot let a transaction that has read go on to write while another connection
    is writing (it answers "database is locked" at once instead of waiting), but it queues
    a transaction whose first statement writes. Uploads run two at a time from one page,
    so every studio write starts afresh. Loaded objects stay usable (no expiry on commit).
    """
    session.commit()


def known_event(user: StaffUser, event_id: int) -> Event:
    """The event, or a 404 for anyone who must not know it exists."""
    event = db_session().get(Event, event_id)
    if event is None or not knows_event(user, event):
        raise NotFound()
    return event


def known_photo(user: StaffUser, photo_id: int) -> Photo:
    """The photo, or a 404 unless its event is known to ``user``."""
    photo = db_session().get(Photo, photo_id)
    if photo is None or not knows_event(user, photo.event):
        raise NotFound()
    return photo


def chosen_album(event: Event, raw: str | None) -> Album | None:
    """The album named by a form or query value; Invalid unless it is the event's own."""
    if raw in (None, ""):
        return None
    try:
        album_id = int(raw)
    except ValueError:
        raise Invalid(_("Choose one of the event's albums.")) from None
    album = album_in_event(db_session(), event, album_id)
    if album is None:
        raise Invalid(_("Choose one of the event's albums."))
    return album


def photo_json(photo: Photo) -> dict[str, Any]:
    """A photo as the API and the upload page see it (no keys, no image data)."""
    failure = None
    if photo.status is PhotoStatus.FAILED:
        failure = {
            "code": photo.failure_code,
            "reason": reason_text(photo.failure_code, fallback=photo.failure_reason),
            "detail": photo.failure_reason,
        }
    return {
        "id": photo.id,
        "event_id": photo.event_id,
        "album_id": photo.album_id,
        "status": photo.status.value,
        "filename": photo.original_filename,
        "sha256": photo.original_sha256,
        "width": photo.width,
        "height": photo.height,
        "withheld": photo.is_withheld,
        "awaiting_review": awaiting_review(photo),
        "failure": failure,
        "retryable": can_be_retried(photo, now()),
    }


def outcome_json(outcome: UploadOutcome) -> dict[str, Any]:
    limits = app_limits(current_app)
    body: dict[str, Any] = {
        "result": outcome.status.value,
        "filename": outcome.filename,
        "sha256": outcome.sha256,
    }
    if outcome.photo is not None:
        body["photo"] = photo_json(outcome.photo)
    if outcome.status is not UploadStatus.ACCEPTED:
        body["code"] = outcome.code
        body["reason"] = reason_text(
            outcome.code,
            found=outcome.found,
            max_bytes=limits.max_bytes,
            max_pixels=limits.max_pixels,
        )
        body["detail"] = outcome.detail
    return body


def receive_uploads(user: StaffUser, event: Event, files: list[FileStorage]) -> list[UploadOutcome]:
    """Accept the files of one request, commit, then queue (or run) their processing."""
    require(can_upload_to_event(user, event))
    if not files:
        raise Invalid(_("Choose at least one photo to upload."))
    session = db_session()
    album = chosen_album(event, request.form.get("album_id"))
    app = running_app()
    blobs, limits = app_blobs(app), app_limits(app)
    end_reads(session)
    outcomes = []
    for upload in files:
        # One byte over the limit is enough to refuse the file; never read more.
        data = upload.stream.read(limits.max_bytes + 1)
        outcomes.append(
            accept_upload(
                session,
                blobs,
                user,
                event,
                filename=upload.filename,
                data=data,
                limits=limits,
                now=now(),
                album=album,
            )
        )
    session.commit()
    accepted = [o.photo.id for o in outcomes if o.status is UploadStatus.ACCEPTED and o.photo]
    enqueue_processing(app, accepted)
    for outcome in outcomes:
        if outcome.photo is not None:
            # Inline processing committed in its own session; show its result.
            session.refresh(outcome.photo)
    return outcomes


def upload_status_code(outcome: UploadOutcome) -> int:
    if outcome.status is UploadStatus.ACCEPTED:
        return 201
    if outcome.status is UploadStatus.REJECTED:
        return 422
    return 200
