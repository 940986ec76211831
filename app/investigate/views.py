"""The investigation console: upload a suspect, read the verdict, keep the case."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.audit.anchors import write_anchor
from app.auth.models import StaffUser
from app.auth.policies import require, sees_every_school
from app.errors import Invalid, NotFound, Unavailable
from app.extensions import limiter
from app.i18n import gettext as _
from app.i18n import lazy_gettext as _l
from app.imaging import PREVIEW_LONG_SIDE, RejectedImage, encode_jpeg
from app.investigate.actions import (
    escalate,
    escalated_cases,
    family_suspension,
    lift_named_family,
    suspend_named_family,
    withdraw_escalation,
)
from app.investigate.forms import NotesForm, SuspectForm
from app.investigate.models import CaseStatus, Investigation, Verdict
from app.investigate.policies import can_investigate, can_investigate_school
from app.investigate.progress import STEPS, progress_board, valid_key
from app.investigate.report import Evidence, build_evidence, sections
from app.investigate.report_pdf import NoReportFont, render_pdf, report_font
from app.investigate.services import (
    case_for,
    cases_of,
    open_case,
    receiver,
    receivers,
    revoke_named_sessions,
    search_case,
    set_notes,
    set_status,
    suspect_bytes,
)
from app.investigate.services import suspect_image as decoded_suspect
from app.mail.web import send_mail_soon
from app.network import locate
from app.photos.blobs import PREVIEW, read_derivative
from app.schools.models import School
from app.web.actions import Audited, checked, commit_action
from app.web.audit import audit
from app.web.context import blobs, db_session, keys, limits, now, runtime, watermarks
from app.web.identity import staff_or_403, staff_required

logger = logging.getLogger(__name__)

bp = Blueprint("investigate", __name__, url_prefix="/investigate", template_folder="templates")

#: Evidence images are for this investigator's browser only, never a shared cache or disk.
NO_STORE = "no-store"
VIEW_QUALITY = 90
#: What the page says while each step runs.
STEP_LABELS = {
    "blind": _l("Reading the invisible mark…"),
    "index": _l("Indexing photos not yet searched…"),
    "candidates": _l("Looking for the source photo…"),
    "informed": _l("Reading the mark against the source photo…"),
    "done": _l("Done: opening the verdict…"),
}


def _investigator() -> StaffUser:
    staff = staff_or_403()
    require(can_investigate(staff))
    return staff


def _case(case_id: int) -> tuple[StaffUser, Investigation]:
    staff = _investigator()
    return staff, case_for(db_session(), staff, case_id)


def _school_choices(staff: StaffUser) -> list[tuple[str, str]]:
    if sees_every_school(staff):
        schools = db_session().scalars(select(School).order_by(School.name))
        return [("", _("Every school"))] + [(str(s.id), s.name) for s in schools]
    school = db_session().get(School, staff.school_id) if staff.school_id else None
    return [(str(school.id), school.name)] if school is not None else []


def _chosen_school(staff: StaffUser, raw: str | None) -> int | None:
    if not sees_every_school(staff):
        return staff.school_id
    if not raw:
        return None
    if not raw.isdecimal() or len(raw) > 9:
        raise Invalid(_("Choose a school from the list."))
    school_id = int(raw)
    if db_session().get(School, school_id) is None:
        raise Invalid(_("Choose a school from the list."))
    return school_id


@bp.get("/")
@staff_required
def index() -> str:
    staff = _investigator()
    form = SuspectForm()
    form.school_id.choices = _school_choices(staff)
    session = db_session()
    return render_template(
        "investigate/index.html",
        cases=cases_of(session, staff),
        escalated=escalated_cases(session) if sees_every_school(staff) else [],
        form=form,
    )


@bp.post("/")
@staff_required
# A search is seconds of CPU: enough for any investigation, not for flooding the server.
@limiter.limit("20/minute;200/hour")
def open_investigation() -> WerkzeugResponse:
    """Upload a suspect, run the search, keep the case; the verdict page follows."""
    staff = _investigator()
    form = SuspectForm()
    form.school_id.choices = _school_choices(staff)
    checked(form)
    upload = request.files.get("suspect")
    if upload is None:
        raise Invalid(_("Choose the suspect image to upload."))
    data = upload.stream.read(limits().max_bytes + 1)
    school_id = _chosen_school(staff, form.school_id.data)
    require(can_investigate_school(staff, school_id))
    session = db_session()
    case, image = open_case(
        session, blobs(), staff, data=data, school_id=school_id, limits=limits(), now=now()
    )
    key = valid_key(form.progress_key.data)
    board = progress_board()
    search_case(
        session,
        blobs(),
        watermarks(),
        staff,
        case,
        image=image,
        now=now(),
        progress=(lambda step: board.set(staff.id, key, step)) if key else None,
        index_dir=runtime().settings.index_dir,
    )
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        audited=Audited(
            "investigate.case_opened",
            subject=f"investigation:{case.id}",
            details={
                "suspect_sha256": case.suspect_sha256,
                "verdict": case.verdict.value if case.verdict else "",
                "delivery_id": case.delivery_id,
                "photo_id": case.photo_id,
            },
        ),
    )


@bp.get("/progress/<key>")
@staff_required
def search_progress(key: str) -> Response:
    """The step the investigator's running search has reached (``null`` before it starts)."""
    staff = _investigator()
    valid = valid_key(key)
    if valid is None:
        raise NotFound()
    step = progress_board().get(staff.id, valid)
    response = jsonify(
        {
            "step": step,
            "number": STEPS.index(step) + 1 if step in STEPS else 0,
            "of": len(STEPS) - 1,
            "label": str(STEP_LABELS.get(step or "", "")),
        }
    )
    response.headers["Cache-Control"] = NO_STORE
    return response


def _verdict_context(case: Investigation) -> dict[str, Any]:
    session = db_session()
    context: dict[str, Any] = {"named": None, "place": None, "receivers": []}
    if case.verdict is Verdict.DELIVERY and case.delivery is not None:
        context["named"] = receiver(session, case.delivery)
        context["place"] = locate(case.delivery.ip) if case.delivery.ip else None
    if case.photo_id is not None:
        context["receivers"] = receivers(session, case.photo_id)
    candidates = case.results.get("candidates", []) if case.results else []
    match = next((c for c in candidates if c.get("photo_id") == case.photo_id), None)
    context["match"] = match
    # The outline on the suspect: the part that was read alone, else the matched features.
    reads = case.results.get("reads", []) if case.results else []
    read = next((r for r in reads if r.get("payload_found") and r.get("region")), None)
    context["suspect_box"] = read["region"] if read else (match or {}).get("suspect_box")
    context["preview_size"] = _preview_size(case)
    context["suspension"] = family_suspension(session, case)
    return context


def _preview_size(case: Investigation) -> tuple[int, int]:
    """The matched photo's preview size (the same fitting as app.imaging.derivatives)."""
    photo = case.photo
    if photo is None or not photo.width or not photo.height:
        return (1, 1)
    width, height = photo.width, photo.height
    if max(width, height) <= PREVIEW_LONG_SIDE:
        return width, height
    if width >= height:
        return PREVIEW_LONG_SIDE, max(1, round(height * PREVIEW_LONG_SIDE / width))
    return max(1, round(width * PREVIEW_LONG_SIDE / height)), PREVIEW_LONG_SIDE


@bp.get("/cases/<id:case_id>")
@staff_required
def show_case(case_id: int) -> str:
    """The verdict: the delivery, or the photo and everyone who received it, or no match."""
    case = _case(case_id)[1]
    return render_template(
        "investigate/case.html",
        case=case,
        notes_form=NotesForm(notes=case.notes),
        Verdict=Verdict,
        CaseStatus=CaseStatus,
        **_verdict_context(case),
    )


def _image(data: bytes) -> Response:
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/cases/<id:case_id>/suspect")
@staff_required
def suspect_image(case_id: int) -> Response:
    """The suspect exactly as uploaded (its SHA-256 is the one on the case)."""
    case = _case(case_id)[1]
    response = _image(suspect_bytes(blobs(), case))
    response.headers["Content-Disposition"] = "attachment"
    return response


@bp.get("/cases/<id:case_id>/suspect.jpg")
@staff_required
def suspect_view(case_id: int) -> Response:
    """The suspect to look at: decoded and saved as a JPEG any browser shows (a HEIC or
    AVIF as uploaded may not display); the evidence itself is the file as uploaded."""
    case = _case(case_id)[1]
    try:
        image = decoded_suspect(blobs(), case)
    except RejectedImage:
        raise NotFound() from None
    response = _image(encode_jpeg(image, VIEW_QUALITY))
    response.mimetype = "image/jpeg"
    return response


@bp.get("/cases/<id:case_id>/source.jpg")
@staff_required
def source_image(case_id: int) -> Response:
    """The matched photo's preview (unmarked: it never leaves to anyone but investigators)."""
    case = _case(case_id)[1]
    if case.photo is None:
        raise NotFound()
    response = _image(read_derivative(blobs(), case.photo, PREVIEW))
    response.mimetype = "image/jpeg"
    return response


@bp.post("/cases/<id:case_id>/notes")
@staff_required
def save_notes(case_id: int) -> WerkzeugResponse:
    staff, case = _case(case_id)
    form = NotesForm()
    checked(form)
    set_notes(db_session(), staff, case, form.notes.data or "")
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("Notes saved."),
        audited=Audited("investigate.notes_saved", subject=f"investigation:{case.id}"),
    )


@bp.post("/cases/<id:case_id>/close")
@staff_required
def close_case(case_id: int) -> WerkzeugResponse:
    staff, case = _case(case_id)
    set_status(db_session(), staff, case, CaseStatus.CLOSED, now=now())
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The case is closed."),
        audited=Audited("investigate.case_closed", subject=f"investigation:{case.id}"),
    )


@bp.post("/cases/<id:case_id>/revoke-sessions")
@staff_required
def revoke_sessions(case_id: int) -> WerkzeugResponse:
    """Sign the named guardian out on every device (the first step while a leak is fresh)."""
    staff, case = _case(case_id)
    guardian_id, ended = revoke_named_sessions(db_session(), staff, case, now=now())
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The guardian has been signed out on every device."),
        audited=Audited(
            "investigate.sessions_revoked",
            subject=f"investigation:{case.id}",
            details={"guardian_id": guardian_id, "sessions": ended},
        ),
    )


@bp.post("/cases/<id:case_id>/suspend-downloads")
@staff_required
def suspend_family_downloads(case_id: int) -> WerkzeugResponse:
    """Pause the named family's downloads; nothing they bought is taken away."""
    staff, case = _case(case_id)
    suspension = suspend_named_family(db_session(), staff, case, now=now())
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The family's downloads are suspended. Lifting it gives back the time it lasted."),
        audited=Audited(
            "investigate.downloads_suspended",
            subject=f"investigation:{case.id}",
            details={"family_id": suspension.family_id, "suspension_id": suspension.id},
        ),
    )


@bp.post("/cases/<id:case_id>/lift-downloads")
@staff_required
def lift_family_downloads(case_id: int) -> WerkzeugResponse:
    staff, case = _case(case_id)
    suspension, extended = lift_named_family(db_session(), staff, case, now=now())
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The family can download again; the suspended time was given back."),
        audited=Audited(
            "investigate.downloads_resumed",
            subject=f"investigation:{case.id}",
            details={
                "family_id": suspension.family_id,
                "suspension_id": suspension.id,
                "entitlements_extended": extended,
            },
        ),
    )


@bp.post("/cases/<id:case_id>/escalate")
@staff_required
def escalate_case(case_id: int) -> WerkzeugResponse:
    """Tell the platform's operators: the case heads their list."""
    staff, case = _case(case_id)
    mailed = escalate(
        db_session(),
        staff,
        case,
        now=now(),
        case_url=url_for("investigate.show_case", case_id=case.id, _external=True),
    )
    response = commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The operator has been told of this case."),
        audited=Audited(
            "investigate.escalated",
            subject=f"investigation:{case.id}",
            details={"operators_mailed": mailed},
        ),
    )
    if mailed:
        send_mail_soon()
    return response


@bp.post("/cases/<id:case_id>/withdraw-escalation")
@staff_required
def withdraw_case_escalation(case_id: int) -> WerkzeugResponse:
    staff, case = _case(case_id)
    withdraw_escalation(db_session(), staff, case)
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The case was taken back from the operator."),
        audited=Audited("investigate.escalation_withdrawn", subject=f"investigation:{case.id}"),
    )


@bp.post("/cases/<id:case_id>/reopen")
@staff_required
def reopen_case(case_id: int) -> WerkzeugResponse:
    staff, case = _case(case_id)
    set_status(db_session(), staff, case, CaseStatus.OPEN, now=now())
    return commit_action(
        url_for("investigate.show_case", case_id=case.id),
        _("The case is open again."),
        audited=Audited("investigate.case_reopened", subject=f"investigation:{case.id}"),
    )


def _evidence(case: Investigation, form: str) -> Evidence:
    """The report, its making recorded on the audit chain first so that it cites itself."""
    audit("investigate.report_made", subject=f"investigation:{case.id}", details={"form": form})
    session = db_session()
    session.flush()
    try:
        evidence = build_evidence(session, blobs(), case, now=now())
    except RejectedImage:
        raise Invalid(_("The stored suspect image can no longer be read.")) from None
    session.commit()
    # The head the report cites also goes outside the database, once it is committed.
    try:
        write_anchor(session, runtime().settings.audit_anchors, key=keys().audit, now=now())
    except OSError:
        logger.exception("the audit chain's head could not be anchored")
    return evidence


@bp.get("/cases/<id:case_id>/report")
@staff_required
def report(case_id: int) -> Response:
    """The evidence report as a page (printable), with the hash list for platforms."""
    case = _case(case_id)[1]
    evidence = _evidence(case, "html")
    page = render_template(
        "investigate/report.html", evidence=evidence, sections=sections(evidence)
    )
    response = Response(page, mimetype="text/html")
    response.headers["Cache-Control"] = NO_STORE
    return response


@bp.get("/cases/<id:case_id>/report.pdf")
@staff_required
def report_pdf(case_id: int) -> Response:
    """The evidence report as a PDF (Japanese and English text, the font embedded)."""
    case = _case(case_id)[1]
    try:
        report_font()
    except NoReportFont:
        raise Unavailable(
            _("PDF reports need a Japanese font on the server; use the page.")
        ) from None
    evidence = _evidence(case, "pdf")
    response = Response(render_pdf(evidence), mimetype="application/pdf")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Content-Disposition"] = (
        f'attachment; filename="photogate-investigation-{case.id}.pdf"'
    )
    return response
