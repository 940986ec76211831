"""Studio pages: events, uploads, albums, API tokens, and the school's controls."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.login import audit, current_staff, staff_required
from app.auth.models import StaffUser
from app.auth.policies import require
from app.clock import now
from app.db import db_session
from app.errors import Invalid, NotFound
from app.gallery.models import Event, Photo, PhotoStatus
from app.storage import PREVIEW, THUMBNAIL
from app.studio.forms import (
    ActionForm,
    AlbumForm,
    AssignForm,
    RetentionForm,
    TokenForm,
    UploadForm,
    WithholdForm,
)
from app.studio.i18n import _
from app.studio.jobs import app_blobs, app_limits, enqueue_processing
from app.studio.policies import (
    can_assign_photographers,
    can_create_album,
    can_manage_api_tokens,
    can_moderate_photos,
    can_retry_photo,
    can_upload_to_event,
    can_use_studio,
)
from app.studio.reasons import reason_text
from app.studio.services import (
    DamagedPhoto,
    assign_photographer,
    awaiting_review,
    can_be_retried,
    create_album,
    create_api_token,
    end_event_hold,
    hold_event,
    photographers,
    purge_due_at,
    read_derivative,
    release_photo,
    release_reviewed,
    retention_days_of,
    retry_photo,
    revoke_api_token,
    set_retention,
    studio_events,
    token_of,
    tokens_of,
    unassign_photographer,
    withhold_photo,
)
from app.studio.web import (
    end_reads,
    known_event,
    known_photo,
    outcome_json,
    photo_json,
    receive_uploads,
    running_app,
    upload_status_code,
)

logger = logging.getLogger(__name__)

bp = Blueprint("studio", __name__, url_prefix="/studio", template_folder="templates")

PAGE_SIZE = 60
_IMAGE_KINDS = {"thumbnail": THUMBNAIL, "preview": PREVIEW}


def _staff() -> StaffUser:
    staff = current_staff()
    if staff is None:  # staff_required has run; this is for the type checker
        raise NotFound()
    return staff


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


def _checked(form: Any) -> None:
    if not form.validate_on_submit():
        errors = [message for messages in form.errors.values() for message in messages]
        raise Invalid(" ".join(str(e) for e in errors) or None)


def _back(event: Event) -> WerkzeugResponse:
    return redirect(url_for("studio.show_event", event_id=event.id), code=303)


@bp.get("/")
@staff_required
def index() -> str:
    staff = _staff()
    require(can_use_studio(staff))
    session = db_session()
    events = studio_events(session, staff)
    counts: dict[tuple[int, PhotoStatus], int] = {}
    if events:
        rows = session.execute(
            select(Photo.event_id, Photo.status, func.count())
            .where(Photo.event_id.in_([event.id for event in events]))
            .group_by(Photo.event_id, Photo.status)
        )
        counts = {(event_id, status): int(count) for event_id, status, count in rows}
    return render_template(
        "studio/index.html",
        staff=staff,
        events=events,
        counts=counts,
        PhotoStatus=PhotoStatus,
        can_tokens=can_manage_api_tokens(staff),
    )


def _event_page(event: Event, staff: StaffUser, **extra: Any) -> str:
    session = db_session()
    status = request.args.get("status") or None
    if status not in {None, *(s.value for s in PhotoStatus)}:
        status = None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = select(Photo).where(Photo.event_id == event.id)
    if status is not None:
        query = query.where(Photo.status == PhotoStatus(status))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    photos = session.scalars(
        query.order_by(Photo.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    upload_form = UploadForm()
    upload_form.album_id.choices = [("", _("No album"))] + [
        (str(album.id), album.name) for album in event.albums
    ]
    assign_form = AssignForm()
    assigned = {p.id for p in event.photographers}
    assign_form.photographer_id.choices = [
        (p.id, p.display_name or p.email) for p in photographers(session) if p.id not in assigned
    ]
    limits = app_limits(running_app())
    moderate = can_moderate_photos(staff, event)
    return render_template(
        "studio/event.html",
        event=event,
        photos=photos,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status=status,
        statuses=list(PhotoStatus),
        upload_form=upload_form,
        album_form=AlbumForm(),
        action=ActionForm(),
        withhold_form=WithholdForm(),
        retention_form=RetentionForm(
            data={"days": event.retention_days} if event.retention_days else None
        ),
        assign_form=assign_form,
        can_upload=can_upload_to_event(staff, event),
        can_album=can_create_album(staff, event),
        can_moderate=moderate,
        can_assign=can_assign_photographers(staff, event),
        can_retry=lambda photo: can_retry_photo(staff, photo) and can_be_retried(photo, now()),
        awaiting_review=awaiting_review,
        reason_text=reason_text,
        retention_days=retention_days_of(event),
        purge_due_at=purge_due_at(event),
        max_bytes=limits.max_bytes,
        **extra,
    )


@bp.get("/events/<int:event_id>")
@staff_required
def show_event(event_id: int) -> str:
    staff = _staff()
    return _event_page(known_event(staff, event_id), staff)


@bp.post("/events/<int:event_id>/photos")
@staff_required
def upload_photos(event_id: int) -> str | tuple[Response, int]:
    """Several files from the page's form, or one file per request from the script."""
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_upload_to_event(staff, event))
    form = UploadForm()
    if not form.validate_on_submit():
        raise Invalid(_("The form has expired. Reload the page and try again."))
    outcomes = receive_uploads(staff, event, request.files.getlist("file"))
    if _wants_json():
        outcome = outcomes[0]
        return jsonify(outcome_json(outcome)), upload_status_code(outcome)
    return _event_page(event, staff, results=[outcome_json(outcome) for outcome in outcomes])


@bp.post("/events/<int:event_id>/albums")
@staff_required
def add_album(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_create_album(staff, event))
    form = AlbumForm()
    _checked(form)
    end_reads(db_session())
    album = create_album(db_session(), staff, event, form.name.data or "")
    db_session().commit()
    flash(_("Album “%(name)s” created.", name=album.name), "success")
    return _back(event)


@bp.get("/photos/<int:photo_id>/<kind>.jpg")
@staff_required
def photo_image(photo_id: int, kind: str) -> Response:
    """A thumbnail or preview for staff who know the event (never the original)."""
    staff = _staff()
    photo = known_photo(staff, photo_id)
    if kind not in _IMAGE_KINDS:
        raise NotFound()
    try:
        data = read_derivative(app_blobs(running_app()), photo, _IMAGE_KINDS[kind])
    except DamagedPhoto:
        # Altered or lost photo data is a security event, not just a broken image.
        audit("studio.blob_damaged", subject=f"photo:{photo.id}", details={"kind": kind})
        db_session().commit()
        raise
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/photos/<int:photo_id>")
@staff_required
def show_photo(photo_id: int) -> Response:
    """The photo's state as JSON, for the upload page to follow processing."""
    staff = _staff()
    return jsonify(photo_json(known_photo(staff, photo_id)))


@bp.post("/photos/<int:photo_id>/retry")
@staff_required
def retry(photo_id: int) -> WerkzeugResponse | tuple[Response, int]:
    staff = _staff()
    photo = known_photo(staff, photo_id)
    require(can_retry_photo(staff, photo))
    _checked(ActionForm())
    session = db_session()
    end_reads(session)
    retry_photo(session, staff, photo, now=now())
    session.commit()
    enqueue_processing(running_app(), [photo.id])
    session.refresh(photo)
    if _wants_json():
        return jsonify(photo_json(photo)), 202
    flash(_("The photo was queued again."), "success")
    return _back(photo.event)


@bp.post("/photos/<int:photo_id>/withhold")
@staff_required
def withhold(photo_id: int) -> WerkzeugResponse:
    staff = _staff()
    photo = known_photo(staff, photo_id)
    require(can_moderate_photos(staff, photo.event))
    form = WithholdForm()
    _checked(form)
    end_reads(db_session())
    withhold_photo(db_session(), staff, photo, form.reason.data or "", now=now())
    audit("studio.photo_withheld", subject=f"photo:{photo.id}", details={"event": photo.event_id})
    db_session().commit()
    flash(_("The photo is withheld from families."), "success")
    return _back(photo.event)


@bp.post("/photos/<int:photo_id>/release")
@staff_required
def release(photo_id: int) -> WerkzeugResponse:
    staff = _staff()
    photo = known_photo(staff, photo_id)
    require(can_moderate_photos(staff, photo.event))
    _checked(ActionForm())
    end_reads(db_session())
    if release_photo(db_session(), staff, photo):
        audit(
            "studio.photo_released", subject=f"photo:{photo.id}", details={"event": photo.event_id}
        )
    db_session().commit()
    flash(_("The photo is released to families."), "success")
    return _back(photo.event)


@bp.post("/events/<int:event_id>/hold")
@staff_required
def hold(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_moderate_photos(staff, event))
    _checked(ActionForm())
    end_reads(db_session())
    withheld = hold_event(db_session(), staff, event, now=now())
    audit("studio.event_held", subject=f"event:{event.id}", details={"withheld": withheld})
    db_session().commit()
    flash(_("Every photo of this event is withheld until reviewed."), "success")
    return _back(event)


@bp.post("/events/<int:event_id>/end-hold")
@staff_required
def end_hold(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_moderate_photos(staff, event))
    _checked(ActionForm())
    end_reads(db_session())
    end_event_hold(db_session(), staff, event)
    audit("studio.event_hold_ended", subject=f"event:{event.id}")
    db_session().commit()
    flash(_("New uploads are no longer withheld."), "success")
    return _back(event)


@bp.post("/events/<int:event_id>/release-reviewed")
@staff_required
def release_all_reviewed(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_moderate_photos(staff, event))
    _checked(ActionForm())
    end_reads(db_session())
    released = release_reviewed(db_session(), staff, event)
    audit("studio.event_reviewed", subject=f"event:{event.id}", details={"released": released})
    db_session().commit()
    flash(_("%(count)s photos released to families.", count=released), "success")
    return _back(event)


@bp.post("/events/<int:event_id>/retention")
@staff_required
def retention(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_moderate_photos(staff, event))
    form = RetentionForm()
    _checked(form)
    end_reads(db_session())
    set_retention(db_session(), staff, event, form.days.data)
    audit(
        "studio.retention_set",
        subject=f"event:{event.id}",
        details={"days": retention_days_of(event)},
    )
    db_session().commit()
    flash(_("Retention saved."), "success")
    return _back(event)


@bp.post("/events/<int:event_id>/photographers")
@staff_required
def assign(event_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_assign_photographers(staff, event))
    form = AssignForm()
    form.photographer_id.choices = [(p.id, p.email) for p in photographers(db_session())]
    _checked(form)
    photographer = db_session().get(StaffUser, form.photographer_id.data)
    if photographer is None:
        raise Invalid(_("Choose a photographer."))
    if assign_photographer(db_session(), staff, event, photographer):
        audit(
            "studio.photographer_assigned",
            subject=f"event:{event.id}",
            details={"photographer": photographer.id},
        )
    db_session().commit()
    return _back(event)


@bp.post("/events/<int:event_id>/photographers/<int:user_id>/remove")
@staff_required
def unassign(event_id: int, user_id: int) -> WerkzeugResponse:
    staff = _staff()
    event = known_event(staff, event_id)
    require(can_assign_photographers(staff, event))
    _checked(ActionForm())
    photographer = db_session().get(StaffUser, user_id)
    if photographer is None:
        raise NotFound()
    if unassign_photographer(db_session(), staff, event, photographer):
        audit(
            "studio.photographer_unassigned",
            subject=f"event:{event.id}",
            details={"photographer": photographer.id},
        )
    db_session().commit()
    return _back(event)


@bp.route("/tokens", methods=["GET", "POST"])
@staff_required
def tokens() -> str:
    """API tokens for upload tools; a new token is shown once, on this response only."""
    staff = _staff()
    require(can_manage_api_tokens(staff))
    form = TokenForm()
    issued = None
    if request.method == "POST":
        _checked(form)
        issued = create_api_token(db_session(), staff, form.name.data or "", now=now())
        audit("studio.token_created", subject=f"api_token:{issued.record.id}")
        db_session().commit()
        form = TokenForm(formdata=None)
    return render_template(
        "studio/tokens.html",
        form=form,
        action=ActionForm(),
        tokens=tokens_of(db_session(), staff),
        issued=issued,
    )


@bp.post("/tokens/<int:token_id>/revoke")
@staff_required
def revoke_token(token_id: int) -> WerkzeugResponse:
    staff = _staff()
    require(can_manage_api_tokens(staff))
    token = token_of(db_session(), staff, token_id)
    if token is None:
        raise NotFound()
    _checked(ActionForm())
    if revoke_api_token(db_session(), token, now=now()):
        audit("studio.token_revoked", subject=f"api_token:{token.id}")
    db_session().commit()
    flash(_("The token is revoked; tools using it are refused from now on."), "success")
    return redirect(url_for("studio.tokens"), code=303)
