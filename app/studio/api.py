"""The studio's JSON API for upload tools: ``Authorization: Bearer pgs_…``.

A token acts for its photographer, so it reaches exactly the events they are assigned
to; other events answer 404 as if they did not exist.  No cookies are read, so there is
nothing for cross-site requests to ride on and CSRF tokens are not needed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app.auth.models import StaffUser
from app.auth.policies import require
from app.errors import AppError, Invalid
from app.extensions import csrf
from app.i18n import gettext as _
from app.photos.jobs import enqueue_processing
from app.photos.models import Event, PhotoStatus
from app.photos.queries import photos_after, status_counts
from app.studio.policies import can_upload_to_event
from app.studio.services import (
    assigned_events,
    authenticate_api_token,
    create_album,
    known_photos,
    retry_photo,
)
from app.studio.web import (
    known_event,
    known_photo,
    outcome_json,
    photo_json,
    receive_uploads,
    upload_status_code,
)
from app.web.context import db_session, now, runtime
from app.web.params import int_arg

logger = logging.getLogger(__name__)

bp = Blueprint("studio_api", __name__, url_prefix="/api/studio")
csrf.exempt(bp)

PAGE_SIZE = 500


class Unauthenticated(AppError):
    """No usable API token: missing, unknown, revoked, or its account is disabled."""

    status_code = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="photogate-studio"'}


def _token_user() -> StaffUser:
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(_("Send your API token as: Authorization: Bearer <token>."))
    session = db_session()
    user = authenticate_api_token(session, token.strip(), now=now())
    # The last-used time belongs to no view's transaction.
    session.commit()
    if user is None:
        logger.info("API request with an unknown or revoked token refused")
        raise Unauthenticated(_("This API token is not valid (unknown, revoked or disabled)."))
    return user


def _event_json(event: Event) -> dict[str, Any]:
    counts = status_counts(db_session(), [event.id])
    return {
        "id": event.id,
        "title": event.title,
        "school": event.school.name,
        "event_date": event.event_date.isoformat(),
        "hold_new_uploads": event.hold_new_uploads,
        "albums": [{"id": album.id, "name": album.name} for album in event.albums],
        "photos": {status.value: counts.get((event.id, status), 0) for status in PhotoStatus},
    }


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(_("Send a JSON object."))
    return body


@bp.get("/events")
def list_events() -> Response:
    """The events the token's photographer is assigned to."""
    user = _token_user()
    return jsonify(events=[_event_json(event) for event in assigned_events(db_session(), user)])


@bp.get("/events/<id:event_id>")
def show_event(event_id: int) -> Response:
    user = _token_user()
    return jsonify(_event_json(known_event(user, event_id)))


@bp.get("/events/<id:event_id>/photos")
def list_photos(event_id: int) -> Response:
    """Photos of the event, PAGE_SIZE at a time: pass the last id seen as ``after``."""
    user = _token_user()
    event = known_event(user, event_id)
    after = int_arg(request.args, "after", 0)
    status = request.args.get("status")
    if status and status not in {s.value for s in PhotoStatus}:
        raise Invalid(_("Unknown status."))
    photos = photos_after(
        db_session(),
        event,
        after=after,
        limit=PAGE_SIZE,
        status=PhotoStatus(status) if status else None,
    )
    return jsonify(
        photos=[photo_json(photo) for photo in photos],
        next_after=photos[-1].id if len(photos) == PAGE_SIZE else None,
    )


@bp.post("/events/<id:event_id>/lookup")
def lookup_hashes(event_id: int) -> Response:
    """Which of the given SHA-256s the event already has: resumable uploads skip those."""
    user = _token_user()
    event = known_event(user, event_id)
    require(can_upload_to_event(user, event))
    hashes = _json_body().get("sha256")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise Invalid(_("sha256 must be a list of hex strings."))
    known = known_photos(db_session(), event, hashes)
    return jsonify(known={sha: {"id": p.id, "status": p.status.value} for sha, p in known.items()})


@bp.post("/events/<id:event_id>/photos")
def upload_photo(event_id: int) -> tuple[Response, int]:
    """One file per request (field ``file``), optionally ``album_id``."""
    user = _token_user()
    event = known_event(user, event_id)
    files = request.files.getlist("file")
    if len(files) != 1:
        raise Invalid(_("Send exactly one file in the field 'file'."))
    outcome = receive_uploads(user, event, files)[0]
    return jsonify(outcome_json(outcome)), upload_status_code(outcome)


@bp.post("/events/<id:event_id>/albums")
def add_album(event_id: int) -> tuple[Response, int]:
    user = _token_user()
    event = known_event(user, event_id)
    name = _json_body().get("name")
    if not isinstance(name, str):
        raise Invalid(_("name must be a string."))
    album = create_album(db_session(), user, event, name)
    db_session().commit()
    return jsonify(id=album.id, name=album.name), 201


@bp.get("/photos/<id:photo_id>")
def show_photo(photo_id: int) -> Response:
    user = _token_user()
    return jsonify(photo_json(known_photo(user, photo_id)))


@bp.post("/photos/<id:photo_id>/retry")
def retry(photo_id: int) -> tuple[Response, int]:
    """Queue a failed photo again; 202 with the photo as it stands afterwards."""
    user = _token_user()
    photo = known_photo(user, photo_id)
    session = db_session()
    retry_photo(session, user, photo, now=now())
    session.commit()
    enqueue_processing(runtime(), [photo.id])
    session.refresh(photo)
    return jsonify(photo_json(photo)), 202
