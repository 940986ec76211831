"""Studio pages: events, uploads, albums, API tokens, and the school's controls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.models import StaffUser
from app.auth.policies import require
from app.errors import Invalid, NotFound
from app.i18n import gettext as _
from app.numbers import parse_int
from app.photos.blobs import PREVIEW, THUMBNAIL, DamagedPhoto, read_derivative
from app.photos.jobs import enqueue_processing
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.processing import can_be_retried
from app.photos.queries import photo_page, status_counts
from app.photos.reasons import reason_text
from app.studio.forms import (
    AlbumForm,
    AssignForm,
    RetentionForm,
    TokenForm,
    UploadForm,
    WithholdForm,
)
from app.studio.policies import (
    can_assign_photographers,
    can_create_album,
    can_manage_api_tokens,
    can_moderate_photos,
    can_retry_photo,
    can_upload_to_event,
    can_use_studio,
)
from app.studio.services import (
    assign_photographer,
    awaiting_review,
    create_album,
    create_api_token,
    end_event_hold,
    hold_event,
    photographers,
    purge_due_at,
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
    known_event,
    known_photo,
    outcome_json,
    photo_json,
    receive_uploads,
    upload_status_code,
)
from app.web.actions import Audited, checked, commit_action
from app.web.audit import audit
from app.web.context import blobs, db_session, limits, now, runtime
from app.web.forms import ActionForm
from app.web.identity import staff_or_403, staff_required
from app.web.params import int_arg

logger = logging.getLogger(__name__)

bp = Blueprint("studio", __name__, url_prefix="/studio", template_folder="templates")

PAGE_SIZE = 60
_IMAGE_KINDS = {"thumbnail": THUMBNAIL, "preview": PREVIEW}


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


def _back(event: Event) -> str:
    return url_for("studio.show_event", event_id=event.id)


def _event_for(
    event_id: int, allowed: Callable[[StaffUser, Event], bool]
) -> tuple[StaffUser, Event]:
    """The signed-in staff member and the event, if it is known to them (else 404) and
    ``allowed`` (else 403)."""
    staff = staff_or_403()
    event = known_event(staff, event_id)
    require(allowed(staff, event))
    return staff, event


def _photo_for(
    photo_id: int, allowed: Callable[[StaffUser, Event], bool]
) -> tuple[StaffUser, Photo]:
    """The same for a photo, judged by its event."""
    staff = staff_or_403()
    photo = known_photo(staff, photo_id)
    require(allowed(staff, photo.event))
    return staff, photo


@bp.get("/")
@staff_required
def index() -> str:
    staff = staff_or_403()
    require(can_use_studio(staff))
    session = db_session()
    events = studio_events(session, staff)
    counts = status_counts(session, (event.id for event in events))
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
    shown = photo_page(
        session,
        event,
        page=int_arg(request.args, "page", 1, minimum=1),
        per_page=PAGE_SIZE,
        status=PhotoStatus(status) if status is not None else None,
    )
    upload_form = UploadForm()
    upload_form.album_id.choices = [("", _("No album"))] + [
        (str(album.id), album.name) for album in event.albums
    ]
    assign_form = AssignForm()
    assigned = {p.id for p in event.photographers}
    assign_form.photographer_id.choices = [
        (p.id, p.display_name or p.email) for p in photographers(session) if p.id not in assigned
    ]
    moderate = can_moderate_photos(staff, event)
    return render_template(
        "studio/event.html",
        event=event,
        photos=shown.photos,
        total=shown.total,
        page=shown.page,
        pages=shown.pages,
        status=status,
        statuses=list(PhotoStatus),
        upload_form=upload_form,
        album_form=_album_form(event),
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
        max_bytes=limits().max_bytes,
        **extra,
    )


def _album_form(event: Event) -> AlbumForm:
    form = AlbumForm()
    form.classroom_id.choices = [("", _("No class"))] + [
        (str(classroom.id), classroom.label) for classroom in event.audience
    ]
    return form


@bp.get("/events/<id:event_id>")
@staff_required
def show_event(event_id: int) -> str:
    staff = staff_or_403()
    return _event_page(known_event(staff, event_id), staff)


@bp.post("/events/<id:event_id>/photos")
@staff_required
def upload_photos(event_id: int) -> str | tuple[Response, int]:
    """Several files from the page's form, or one file per request from the script."""
    staff = staff_or_403()
    event = known_event(staff, event_id)
    outcomes = receive_uploads(staff, event, request.files.getlist("file"))
    if _wants_json():
        outcome = outcomes[0]
        return jsonify(outcome_json(outcome)), upload_status_code(outcome)
    return _event_page(event, staff, results=[outcome_json(outcome) for outcome in outcomes])


@bp.post("/events/<id:event_id>/albums")
@staff_required
def add_album(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_create_album)
    form = AlbumForm()
    checked(form)
    classroom_id = parse_int(form.classroom_id.data, minimum=1) if form.classroom_id.data else None
    if form.classroom_id.data and classroom_id is None:
        raise Invalid(_("Choose one of the event's classes."))
    album = create_album(db_session(), staff, event, form.name.data or "", classroom_id)
    return commit_action(_back(event), _("Album “%(name)s” created.", name=album.name))


@bp.get("/photos/<id:photo_id>/<any(thumbnail, preview):kind>.jpg")
@staff_required
def photo_image(photo_id: int, kind: str) -> Response:
    """A thumbnail or preview for staff who know the event (never the original)."""
    staff = staff_or_403()
    photo = known_photo(staff, photo_id)
    try:
        data = read_derivative(blobs(), photo, _IMAGE_KINDS[kind])
    except DamagedPhoto:
        # Altered or lost photo data is a security event, not just a broken image.
        audit("studio.blob_damaged", subject=f"photo:{photo.id}", details={"kind": kind})
        db_session().commit()
        raise
    response = Response(data, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/photos/<id:photo_id>")
@staff_required
def show_photo(photo_id: int) -> Response:
    """The photo's state as JSON, for the upload page to follow processing."""
    return jsonify(photo_json(known_photo(staff_or_403(), photo_id)))


@bp.post("/photos/<id:photo_id>/retry")
@staff_required
def retry(photo_id: int) -> WerkzeugResponse | tuple[Response, int]:
    staff = staff_or_403()
    photo = known_photo(staff, photo_id)
    require(can_retry_photo(staff, photo))
    session = db_session()
    retry_photo(session, staff, photo, now=now())
    session.commit()
    enqueue_processing(runtime(), [photo.id])
    session.refresh(photo)
    if _wants_json():
        return jsonify(photo_json(photo)), 202
    return commit_action(_back(photo.event), _("The photo was queued again."))


@bp.post("/photos/<id:photo_id>/withhold")
@staff_required
def withhold(photo_id: int) -> WerkzeugResponse:
    staff, photo = _photo_for(photo_id, can_moderate_photos)
    form = WithholdForm()
    checked(form)
    withhold_photo(db_session(), staff, photo, form.reason.data or "", now=now())
    return commit_action(
        _back(photo.event),
        _("The photo is withheld from families."),
        audited=Audited("studio.photo_withheld", f"photo:{photo.id}", {"event": photo.event_id}),
    )


@bp.post("/photos/<id:photo_id>/release")
@staff_required
def release(photo_id: int) -> WerkzeugResponse:
    staff, photo = _photo_for(photo_id, can_moderate_photos)
    changed = release_photo(db_session(), staff, photo)
    return commit_action(
        _back(photo.event),
        _("The photo is released to families."),
        audited=Audited("studio.photo_released", f"photo:{photo.id}", {"event": photo.event_id})
        if changed
        else None,
    )


@bp.post("/events/<id:event_id>/hold")
@staff_required
def hold(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_moderate_photos)
    withheld = hold_event(db_session(), staff, event, now=now())
    return commit_action(
        _back(event),
        _("Every photo of this event is withheld until reviewed."),
        audited=Audited("studio.event_held", f"event:{event.id}", {"withheld": withheld}),
    )


@bp.post("/events/<id:event_id>/end-hold")
@staff_required
def end_hold(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_moderate_photos)
    end_event_hold(db_session(), staff, event)
    return commit_action(
        _back(event),
        _("New uploads are no longer withheld."),
        audited=Audited("studio.event_hold_ended", f"event:{event.id}"),
    )


@bp.post("/events/<id:event_id>/release-reviewed")
@staff_required
def release_all_reviewed(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_moderate_photos)
    released = release_reviewed(db_session(), staff, event)
    return commit_action(
        _back(event),
        _("%(count)s photos released to families.", count=released),
        audited=Audited("studio.event_reviewed", f"event:{event.id}", {"released": released}),
    )


@bp.post("/events/<id:event_id>/retention")
@staff_required
def retention(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_moderate_photos)
    form = RetentionForm()
    checked(form)
    set_retention(db_session(), staff, event, form.days.data)
    return commit_action(
        _back(event),
        _("Retention saved."),
        audited=Audited(
            "studio.retention_set", f"event:{event.id}", {"days": retention_days_of(event)}
        ),
    )


@bp.post("/events/<id:event_id>/photographers")
@staff_required
def assign(event_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_assign_photographers)
    form = AssignForm()
    form.photographer_id.choices = [(p.id, p.email) for p in photographers(db_session())]
    checked(form)
    photographer = db_session().get(StaffUser, form.photographer_id.data)
    if photographer is None:
        raise Invalid(_("Choose a photographer."))
    changed = assign_photographer(db_session(), staff, event, photographer)
    return commit_action(
        _back(event),
        audited=Audited(
            "studio.photographer_assigned", f"event:{event.id}", {"photographer": photographer.id}
        )
        if changed
        else None,
    )


@bp.post("/events/<id:event_id>/photographers/<id:user_id>/remove")
@staff_required
def unassign(event_id: int, user_id: int) -> WerkzeugResponse:
    staff, event = _event_for(event_id, can_assign_photographers)
    photographer = db_session().get(StaffUser, user_id)
    if photographer is None:
        raise NotFound()
    changed = unassign_photographer(db_session(), staff, event, photographer)
    return commit_action(
        _back(event),
        audited=Audited(
            "studio.photographer_unassigned",
            f"event:{event.id}",
            {"photographer": photographer.id},
        )
        if changed
        else None,
    )


@bp.route("/tokens", methods=["GET", "POST"])
@staff_required
def tokens() -> str:
    """API tokens for upload tools; a new token is shown once, on this response only."""
    staff = staff_or_403()
    require(can_manage_api_tokens(staff))
    form = TokenForm()
    issued = None
    if request.method == "POST":
        checked(form)
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


@bp.post("/tokens/<id:token_id>/revoke")
@staff_required
def revoke_token(token_id: int) -> WerkzeugResponse:
    staff = staff_or_403()
    require(can_manage_api_tokens(staff))
    token = token_of(db_session(), staff, token_id)
    if token is None:
        raise NotFound()
    changed = revoke_api_token(db_session(), token, now=now())
    return commit_action(
        url_for("studio.tokens"),
        _("The token is revoked; tools using it are refused from now on."),
        audited=Audited("studio.token_revoked", f"api_token:{token.id}") if changed else None,
    )
