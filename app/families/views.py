"""Family pages (join with a code, guardians, invitations) and the school's roster pages."""

from __future__ import annotations

import hashlib

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.login import begin_session
from app.auth.models import Guardian
from app.auth.policies import (
    Permission,
    can_act_for_school,
    has_permission,
    manages_school,
    require,
    require_found,
    sees_every_school,
)
from app.auth.sessions import end_all_sessions
from app.auth.throttle import Locked
from app.auth.tokens import normalise_code
from app.deliveries.services import viewer_code
from app.downloads.services import download_history
from app.errors import Conflict, Invalid
from app.extensions import limiter
from app.families.forms import ClaimForm, RosterConfirmForm, RosterUploadForm
from app.families.models import Invitation, InvitationKind
from app.families.roster import decode_roster, import_roster, preview_roster
from app.families.services import (
    MAX_GUARDIANS,
    InvitationRefused,
    claim_invitation,
    family_invitations,
    guardian_count,
    invite_guardian,
    issue_roster_invitations,
    joined_by_guardian_invitation,
    open_invitations,
    remove_guardian,
    revoke_invitation,
    school_families,
)
from app.i18n import gettext as _
from app.numbers import parse_int
from app.qr import qr_svg
from app.schools.models import Family, School
from app.web.actions import Audited, commit_action
from app.web.audit import audit
from app.web.context import db_session, keys, now, settings
from app.web.forms import ActionForm
from app.web.identity import (
    current_guardian,
    current_staff,
    guardian_or_403,
    guardian_required,
    staff_or_403,
    staff_required,
)
from app.web.params import id_list

bp = Blueprint("families", __name__, template_folder="templates")


def _guardian() -> Guardian:
    return guardian_or_403()


def _guardian_key() -> str:
    guardian = current_guardian()
    return f"guardian:{guardian.id if guardian is not None else '-'}"


def _code_key() -> str:
    typed = normalise_code(request.form.get("code", ""))
    return "invitation-code:" + hashlib.sha256(typed.encode()).hexdigest()


def _join_url(code: str) -> str:
    return f"{settings().public_url}{url_for('families.join')}?code={code}"


# -- the family's side ---------------------------------------------------------------


@bp.get("/family")
@guardian_required
def home() -> str:
    guardian = _guardian()
    family = guardian.family
    if family is None:
        return render_template("families/no_family.html", form=ClaimForm())
    db = db_session()
    joined_by_invite = {
        g.id: joined_by_guardian_invitation(db, g) is not None for g in family.guardians
    }
    return render_template(
        "families/home.html",
        family=family,
        guardian=guardian,
        joined_by_invite=joined_by_invite,
        invitations=open_invitations(db, family, InvitationKind.GUARDIAN, now=now()),
        can_invite=guardian_count(db, family.id) < MAX_GUARDIANS,
        form=ActionForm(),
    )


@bp.route("/join", methods=["GET", "POST"])
@guardian_required
@limiter.limit("60/hour", methods=["POST"])
@limiter.limit("10/hour", key_func=_guardian_key, methods=["POST"])
@limiter.limit("5/hour", key_func=_code_key, methods=["POST"])
def join() -> str | WerkzeugResponse | tuple[str, int]:
    guardian = _guardian()
    form = ClaimForm()
    if not form.is_submitted():
        form.code.data = request.args.get("code", "")[:64]
    if form.validate_on_submit():
        db = db_session()
        try:
            invitation = claim_invitation(
                db, guardian, form.code.data or "", key=keys().codes, now=now()
            )
        except Locked:
            audit("family.claim_locked", subject=f"guardian:{guardian.id}")
            db.commit()
            raise
        except (InvitationRefused, Conflict) as refused:
            audit(
                "family.claim_refused",
                subject=f"guardian:{guardian.id}",
                details={"reason": type(refused).__name__},
            )
            db.commit()
            return render_template("families/join.html", form=form, error=refused.message), (
                refused.status_code
            )
        audit(
            "family.code_claimed",
            subject=f"family:{invitation.family_id}",
            details={"invitation": invitation.id, "kind": str(invitation.kind)},
        )
        response = redirect(url_for("families.home"), code=303)
        # Joining gives the account a family's photos: a new session token from here on,
        # so a token seen before the join (a shared screen, a proxy log) opens nothing.
        begin_session(response, guardian)
        db.commit()
        flash(_("Welcome! You are now a member of your family on PhotoGate."))
        return response
    return render_template("families/join.html", form=form, error=None)


@bp.post("/family/invitations")
@guardian_required
@limiter.limit("10/hour", key_func=_guardian_key)
def invite() -> str | tuple[str, int]:
    guardian = _guardian()
    db = db_session()
    issued = invite_guardian(db, guardian, key=keys().codes, now=now())
    audit(
        "family.guardian_invited",
        subject=f"family:{issued.family.id}",
        details={"invitation": issued.invitation.id},
    )
    db.commit()
    return render_template(
        "families/invitation_link.html", issued=issued, link=_join_url(issued.code)
    )


def _family_invitation(invitation_id: int, family_id: int | None) -> Invitation:
    invitation = require_found(db_session().get(Invitation, invitation_id))
    return require_found(
        invitation, visible=family_id is not None and invitation.family_id == family_id
    )


@bp.post("/family/invitations/<id:invitation_id>/revoke")
@guardian_required
def revoke(invitation_id: int) -> WerkzeugResponse:
    guardian = _guardian()
    invitation = _family_invitation(invitation_id, guardian.family_id)
    # The school's letter code is the school's to withdraw.
    require(invitation.kind is InvitationKind.GUARDIAN)
    revoke_invitation(db_session(), invitation, now=now())
    return commit_action(
        url_for("families.home"),
        _("The invitation has been withdrawn."),
        audited=Audited("family.invitation_revoked", f"invitation:{invitation.id}"),
    )


@bp.post("/family/guardians/<id:guardian_id>/remove")
@guardian_required
def remove(guardian_id: int) -> WerkzeugResponse:
    me = _guardian()
    db = db_session()
    target = require_found(db.get(Guardian, guardian_id))
    require_found(target, visible=me.family_id is not None and target.family_id == me.family_id)
    # Anyone may leave; the guardian who came in by a guardian's link may also be removed
    # by the other guardian. Guardians who joined with the school's letter answer to the
    # school only.
    require(target.id == me.id or joined_by_guardian_invitation(db, target) is not None)
    family_id = target.family_id
    remove_guardian(db, target, now=now())
    return commit_action(
        url_for("families.home" if target.id != me.id else "main.home"),
        _("The guardian has been removed from the family."),
        audited=Audited("family.guardian_removed", f"family:{family_id}", {"guardian": target.id}),
    )


# -- the school's side ---------------------------------------------------------------


def _school(school_id: int, permission: Permission) -> School:
    """The school, if the signed-in staff member may act for it (404 if they may not know it)."""
    staff = current_staff()
    # The role decides first (403); whether the school is theirs to know comes second (404).
    require(has_permission(staff, permission))
    school = require_found(
        db_session().get(School, school_id), visible=manages_school(staff, school_id)
    )
    require(can_act_for_school(staff, school_id, permission))
    return school


def _school_family(school: School, family_id: int) -> Family:
    family = require_found(db_session().get(Family, family_id))
    return require_found(family, visible=family.school_id == school.id)


@bp.get("/schools")
@staff_required
def schools() -> str | WerkzeugResponse:
    staff = staff_or_403()
    require(has_permission(staff, Permission.ROSTER_MANAGE))
    if not sees_every_school(staff) and staff.school_id is not None:
        return redirect(url_for("families.roster", school_id=staff.school_id))
    visible = list(db_session().scalars(select(School).order_by(School.name)))
    return render_template("families/schools.html", schools=visible)


@bp.get("/schools/<id:school_id>/roster")
@staff_required
def roster(school_id: int) -> str:
    school = _school(school_id, Permission.ROSTER_MANAGE)
    db = db_session()
    families = school_families(db, school)
    moment = now()
    status = {
        family.id: {
            "guardians": len(family.guardians),
            "open_letter": bool(open_invitations(db, family, InvitationKind.ROSTER, now=moment)),
        }
        for family in families
    }
    upload = RosterUploadForm(school_year=moment.year)
    return render_template(
        "families/roster.html",
        school=school,
        families=families,
        status=status,
        upload=upload,
        form=ActionForm(),
    )


@bp.post("/schools/<id:school_id>/roster/preview")
@staff_required
def roster_preview(school_id: int) -> str | tuple[str, int]:
    school = _school(school_id, Permission.ROSTER_MANAGE)
    upload = RosterUploadForm()
    if not upload.validate_on_submit():
        raise Invalid(_("Choose a CSV file and a school year."))
    data = upload.roster.data.read(1024 * 1024 + 1)
    preview = preview_roster(db_session(), school, int(upload.school_year.data or 0), data)
    confirm = RosterConfirmForm(
        school_year=str(upload.school_year.data),
        # The confirmation posts the text back as UTF-8, whatever the file's encoding was.
        roster_text=(decode_roster(data) or "") if preview.ok else "",
    )
    html = render_template(
        "families/roster_preview.html",
        school=school,
        preview=preview,
        confirm=confirm,
        school_year=upload.school_year.data,
    )
    return html if preview.ok else (html, 400)


@bp.post("/schools/<id:school_id>/roster/import")
@staff_required
def roster_import(school_id: int) -> WerkzeugResponse:
    school = _school(school_id, Permission.ROSTER_MANAGE)
    form = RosterConfirmForm()
    if not form.validate_on_submit():
        raise Invalid()
    year = parse_int(form.school_year.data, minimum=2000, maximum=2100)
    if year is None:
        raise Invalid()
    try:
        result = import_roster(
            db_session(), school, year, (form.roster_text.data or "").encode("utf-8")
        )
    except ValueError:
        raise Invalid(_("The roster has errors. Upload it again to see them.")) from None
    return commit_action(
        url_for("families.roster", school_id=school.id),
        _(
            "Roster imported: %(families)d new families, %(students)d new students.",
            families=result.families,
            students=result.students,
        ),
        audited=Audited(
            "roster.imported",
            f"school:{school.id}",
            {"families": result.families, "students": result.students, "classes": result.classes},
        ),
    )


@bp.post("/schools/<id:school_id>/invitations")
@staff_required
@limiter.limit("30/hour")
def issue_letters(school_id: int) -> str:
    school = _school(school_id, Permission.INVITATIONS_MANAGE)
    ids = id_list(request.form, "family_id")
    if not ids:
        raise Invalid(_("Choose at least one family."))
    db = db_session()
    issued = issue_roster_invitations(db, staff_or_403(), school, ids, key=keys().codes, now=now())
    for item in issued:
        audit(
            "family.invitation_issued",
            subject=f"family:{item.family.id}",
            details={"invitation": item.invitation.id},
        )
    db.commit()
    # Shown once: the codes exist nowhere else in clear.
    letters = [(item, _join_url(item.code)) for item in issued]
    return render_template("families/letters.html", school=school, letters=letters, qr=qr_svg)


@bp.get("/schools/<id:school_id>/families/<id:family_id>")
@staff_required
def family_detail(school_id: int, family_id: int) -> str:
    school = _school(school_id, Permission.FAMILIES_MANAGE)
    family = _school_family(school, family_id)
    return render_template(
        "families/family_detail.html",
        school=school,
        family=family,
        invitations=family_invitations(db_session(), family),
        # The code on the guardian's previews: a screenshot names them.
        viewer_codes={g.id: viewer_code(keys().codes, g.id) for g in family.guardians},
        downloads=download_history(db_session(), family.id, limit=100),
        now=now(),
        form=ActionForm(),
    )


@bp.post("/schools/<id:school_id>/invitations/<id:invitation_id>/revoke")
@staff_required
def school_revoke(school_id: int, invitation_id: int) -> WerkzeugResponse:
    school = _school(school_id, Permission.INVITATIONS_MANAGE)
    db = db_session()
    invitation = require_found(db.get(Invitation, invitation_id))
    require_found(invitation, visible=invitation.school_id == school.id)
    revoke_invitation(db, invitation, now=now())
    return commit_action(
        url_for("families.family_detail", school_id=school.id, family_id=invitation.family_id),
        _("The invitation has been withdrawn."),
        audited=Audited("family.invitation_revoked", f"invitation:{invitation.id}"),
    )


def _school_guardian(school: School, family_id: int, guardian_id: int) -> tuple[Family, Guardian]:
    family = _school_family(school, family_id)
    guardian = require_found(db_session().get(Guardian, guardian_id))
    require_found(guardian, visible=guardian.family_id == family.id)
    return family, guardian


@bp.post("/schools/<id:school_id>/families/<id:family_id>/guardians/<id:guardian_id>/remove")
@staff_required
def school_remove_guardian(school_id: int, family_id: int, guardian_id: int) -> WerkzeugResponse:
    school = _school(school_id, Permission.FAMILIES_MANAGE)
    family, guardian = _school_guardian(school, family_id, guardian_id)
    remove_guardian(db_session(), guardian, now=now())
    return commit_action(
        url_for("families.family_detail", school_id=school.id, family_id=family.id),
        _("The guardian has been removed from the family."),
        audited=Audited(
            "family.guardian_removed", f"family:{family.id}", {"guardian": guardian.id}
        ),
    )


@bp.post(
    "/schools/<id:school_id>/families/<id:family_id>/guardians/<id:guardian_id>/revoke-sessions"
)
@staff_required
def school_revoke_sessions(school_id: int, family_id: int, guardian_id: int) -> WerkzeugResponse:
    school = _school(school_id, Permission.FAMILIES_MANAGE)
    family, guardian = _school_guardian(school, family_id, guardian_id)
    ended = end_all_sessions(db_session(), guardian, now=now(), reason="revoked_by_school")
    return commit_action(
        url_for("families.family_detail", school_id=school.id, family_id=family.id),
        _("The guardian has been signed out on every device."),
        audited=Audited("auth.sessions_revoked", f"guardian:{guardian.id}", {"sessions": ended}),
    )
