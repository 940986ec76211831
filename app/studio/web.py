"""What the studio's page views and its JSON API share: look-ups that apply the policies,
the upload request, and the JSON shape of a photo."""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from werkzeug.datastructures import FileStorage

from app.auth.models import StaffUser
from app.errors import NotFound
from app.photos.jobs import enqueue_processing
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.processing import can_be_retried
from app.photos.reasons import reason_text, rejection_text
from app.studio.policies import knows_event
from app.studio.services import (
    IncomingFile,
    UploadOutcome,
    UploadStatus,
    accepted_ids,
    awaiting_review,
    upload_photos,
)
from app.web.context import blobs, db_session, limits, now, runtime

logger = logging.getLogger(__name__)


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
    body: dict[str, Any] = {
        "result": outcome.status.value,
        "filename": outcome.filename,
        "sha256": outcome.sha256,
    }
    if outcome.photo is not None:
        body["photo"] = photo_json(outcome.photo)
    if outcome.status is not UploadStatus.ACCEPTED:
        body["code"] = outcome.code
        body["reason"] = (
            rejection_text(outcome.rejection)
            if outcome.rejection is not None
            else reason_text(outcome.code)
        )
        body["detail"] = outcome.detail
    return body


def receive_uploads(user: StaffUser, event: Event, files: list[FileStorage]) -> list[UploadOutcome]:
    """The upload of one request: accept the files, commit, then queue their processing."""
    max_bytes = limits().max_bytes
    # One byte over the limit is enough to refuse a file; never read more.
    incoming = [IncomingFile(f.filename, f.stream.read(max_bytes + 1)) for f in files]
    session = db_session()
    outcomes = upload_photos(
        session,
        blobs(),
        user,
        event,
        incoming,
        album_id=request.form.get("album_id"),
        limits=limits(),
        now=now(),
    )
    session.commit()
    enqueue_processing(runtime(), accepted_ids(outcomes))
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
