"""The staff console: a start page per role, staff accounts, and the audit log."""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]

from app.admin.forms import StaffCreateForm
from app.audit.services import verify_window
from app.auth.models import StaffRole, StaffUser
from app.auth.policies import (
    Permission,
    can_manage_staff,
    has_permission,
    require,
    require_found,
    sees_every_school,
)
from app.auth.services import (
    IssuedLink,
    create_staff,
    reset_staff_sign_in,
    set_staff_active,
    staff_visible_to,
)
from app.auth.sessions import end_all_sessions
from app.i18n import gettext as _
from app.schools.models import School
from app.web.actions import Audited, commit_action
from app.web.audit import audit
from app.web.context import db_session, keys, now, settings
from app.web.forms import ActionForm
from app.web.identity import staff_or_403, staff_required

bp = Blueprint("admin", __name__, template_folder="templates")

AUDIT_PAGE = 200


def _staff() -> StaffUser:
    return staff_or_403()


@bp.get("/staff")
@staff_required
def home() -> str:
    staff = _staff()
    return render_template(
        "admin/home.html",
        staff=staff,
        can_roster=has_permission(staff, Permission.ROSTER_MANAGE),
        can_staff=has_permission(staff, Permission.STAFF_MANAGE),
        can_audit=has_permission(staff, Permission.AUDIT_VIEW),
        # A school administrator's own school's orders; operators open a school's page.
        sales_school_id=staff.school_id
        if has_permission(staff, Permission.ORDERS_MANAGE) and staff.school_id is not None
        else None,
        can_investigate=has_permission(staff, Permission.INVESTIGATIONS_RUN),
    )


def _create_form(staff: StaffUser) -> StaffCreateForm:
    form = StaffCreateForm()
    schools = db_session().scalars(select(School).order_by(School.name))
    if sees_every_school(staff):
        form.school_id.choices = cast(
            Any, [SelectChoice(0, _("— none —")), *(SelectChoice(s.id, s.name) for s in schools)]
        )
    else:
        form.role.choices = cast(
            Any, [SelectChoice(StaffRole.SCHOOL_ADMIN.value, _("School administrator"))]
        )
        form.school_id.choices = cast(
            Any, [SelectChoice(s.id, s.name) for s in schools if s.id == staff.school_id]
        )
    return form


@bp.route("/staff/accounts", methods=["GET", "POST"])
@staff_required
def accounts() -> str | tuple[str, int]:
    staff = _staff()
    require(has_permission(staff, Permission.STAFF_MANAGE))
    form = _create_form(staff)
    db = db_session()
    if form.validate_on_submit():
        role = StaffRole(form.role.data)
        school_id = form.school_id.data or None
        user, issued = create_staff(
            db,
            staff,
            email=form.email.data or "",
            display_name=form.display_name.data or "",
            role=role,
            school_id=school_id,
            now=now(),
        )
        audit("staff.created", subject=f"staff:{user.id}", details={"role": role.value})
        db.commit()
        return _link_page(user, issued)
    status = 400 if form.is_submitted() else 200
    html = render_template(
        "admin/accounts.html",
        form=form,
        accounts=staff_visible_to(db, staff),
        action=ActionForm(),
        can_manage=lambda target: can_manage_staff(staff, target),
    )
    return (html, status) if status != 200 else html


def _link_page(user: StaffUser, issued: IssuedLink) -> str:
    link = f"{settings().public_url}{url_for('auth.set_password', token=issued.token)}"
    return render_template("admin/link.html", user=user, link=link, expires=issued.link.expires_at)


def _managed(user_id: int) -> StaffUser:
    staff = _staff()
    require(has_permission(staff, Permission.STAFF_MANAGE))
    target = require_found(db_session().get(StaffUser, user_id))
    require_found(target, visible=sees_every_school(staff) or target.school_id == staff.school_id)
    require(can_manage_staff(staff, target))
    return target


@bp.post("/staff/accounts/<id:user_id>/reset")
@staff_required
def reset(user_id: int) -> str:
    target = _managed(user_id)
    db = db_session()
    issued = reset_staff_sign_in(db, _staff(), target, now=now())
    audit("staff.sign_in_reset", subject=f"staff:{target.id}")
    db.commit()
    return _link_page(target, issued)


def _set_active(user_id: int, active: bool) -> WerkzeugResponse:
    target = _managed(user_id)
    set_staff_active(db_session(), _staff(), target, active, now=now())
    return commit_action(
        url_for("admin.accounts"),
        _("The account has been activated.") if active else _("The account has been deactivated."),
        audited=Audited("staff.activated" if active else "staff.deactivated", f"staff:{target.id}"),
    )


@bp.post("/staff/accounts/<id:user_id>/deactivate")
@staff_required
def deactivate(user_id: int) -> WerkzeugResponse:
    return _set_active(user_id, False)


@bp.post("/staff/accounts/<id:user_id>/activate")
@staff_required
def activate(user_id: int) -> WerkzeugResponse:
    return _set_active(user_id, True)


@bp.post("/staff/accounts/<id:user_id>/revoke-sessions")
@staff_required
def revoke_sessions(user_id: int) -> WerkzeugResponse:
    target = _managed(user_id)
    ended = end_all_sessions(db_session(), target, now=now(), reason="revoked_by_admin")
    return commit_action(
        url_for("admin.accounts"),
        _("The account has been signed out on every device."),
        audited=Audited("auth.sessions_revoked", f"staff:{target.id}", {"sessions": ended}),
    )


@bp.get("/staff/audit")
@staff_required
def audit_log() -> str:
    require(has_permission(_staff(), Permission.AUDIT_VIEW))
    # The newest events and the links between them are checked on every view, at a cost
    # that does not grow with the log; `photogate audit verify` checks the whole chain.
    window = verify_window(db_session(), key=keys().audit, limit=AUDIT_PAGE)
    return render_template("admin/audit.html", report=window.report, events=window.events)
