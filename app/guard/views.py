"""The guard's pages: the step-up a family is sent to, and the school's alerts dashboard
(open alerts with their evidence, the actions on them, a family's devices and sessions)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.login import login_cookie_name
from app.auth.models import Guardian, UserSession
from app.auth.oidc import LOGIN_REQUEST_LIFETIME
from app.auth.policies import manages_school, require, require_found, sees_every_school
from app.auth.tokens import new_token
from app.errors import Conflict, Invalid, NotFound
from app.extensions import limiter
from app.guard.models import AlertStatus, GuardAlert, GuardHold, GuardStepUp, Step
from app.guard.notify import code_waiting, enter_code, send_code
from app.guard.policies import can_see_alert, can_use_guard
from app.guard.rules import account_entity
from app.guard.services import (
    MANUAL_STEPS,
    RULE_TEXT,
    STEP_TEXT,
    account_devices,
    apply_step,
    daily_activity,
    dismiss_as_household,
    lift,
    recent_downloads,
    step_up_pending,
)
from app.guard.watch import signal_store
from app.i18n import gettext as _
from app.mail.services import masked
from app.mail.web import send_mail_soon
from app.network import database_date
from app.schools.models import Family
from app.urls import safe_next
from app.web.actions import Audited, commit_action
from app.web.audit import audit
from app.web.context import db_session, keys, now, oidc_client
from app.web.forms import ActionForm
from app.web.identity import (
    current_signed_in,
    guardian_or_403,
    guardian_required,
    rate_key,
    set_cookie,
    staff_or_403,
    staff_required,
)

bp = Blueprint("guard", __name__, template_folder="templates")

ALERTS_SHOWN = 200
#: Days in the dashboard's chart.
CHART_DAYS = 14


# -- families: the step-up -------------------------------------------------------------


@bp.get("/account/step-up")
@guardian_required
def step_up() -> str:
    guardian = guardian_or_403()
    signed_in = current_signed_in()
    session_id = signed_in.record.id if signed_in else None
    pending = step_up_pending(db_session(), guardian, session_id, now=now())
    waiting = code_waiting(db_session(), session_id) if pending else None
    return render_template(
        "guard/step_up.html",
        pending=pending,
        code_sent_to=masked(waiting.code_sent_to) if waiting and waiting.code_sent_to else None,
        explanation=str(STEP_TEXT[Step.STEP_UP]),
        next_url=safe_next(request.args.get("next"), ""),
        providers=oidc_client().providers,
        form=ActionForm(),
    )


def _waiting_code() -> tuple[Guardian, int, GuardStepUp]:
    guardian = guardian_or_403()
    signed_in = current_signed_in()
    session_id = signed_in.record.id if signed_in else None
    waiting = code_waiting(db_session(), session_id)
    if waiting is None or session_id is None:
        raise Conflict(_("No code is waiting for this sign-in."))
    return guardian, session_id, waiting


@bp.post("/account/step-up/code")
@guardian_required
@limiter.limit("10/minute", key_func=rate_key)
def enter_step_up_code() -> WerkzeugResponse:
    """The code mailed to the family's roster contact: the last part of a step-up."""
    guardian, session_id, waiting = _waiting_code()
    db = db_session()
    try:
        enter_code(db, waiting, request.form.get("code", ""), key=keys().codes, now=now())
    except (Invalid, Conflict):
        db.commit()  # the try counts
        raise
    audit("guard.stepped_up", actor=guardian, subject=f"session:{session_id}")
    db.commit()
    return redirect(safe_next(request.form.get("next"), url_for("gallery.home")), code=303)


@bp.post("/account/step-up/code/again")
@guardian_required
@limiter.limit("3/10 minutes", key_func=rate_key)
def resend_step_up_code() -> WerkzeugResponse:
    guardian, session_id, waiting = _waiting_code()
    db = db_session()
    send_code(db, guardian, session_id, waiting.code_sent_to or "", key=keys().codes, now=now())
    audit("guard.code_sent", actor=guardian, subject=f"session:{session_id}")
    db.commit()
    send_mail_soon()
    flash(_("A new code is on its way."))
    return redirect(
        url_for("guard.step_up", next=safe_next(request.form.get("next"), "")), code=303
    )


@bp.post("/account/step-up/<provider>")
@guardian_required
@limiter.limit("10/minute")
def start_step_up(provider: str) -> WerkzeugResponse:
    """Sign in again at the provider, which must authenticate the user afresh."""
    guardian_or_403()
    client = oidc_client()
    chosen = client.provider(provider)
    if chosen is None:
        raise NotFound()
    db = db_session()
    browser = new_token()
    url, state = client.begin(
        db,
        chosen,
        browser_token=browser,
        next_url=safe_next(request.form.get("next"), ""),
        now=now(),
        fresh=True,
    )
    db.commit()
    response = redirect(url, code=303)
    set_cookie(
        response, login_cookie_name(state), browser, int(LOGIN_REQUEST_LIFETIME.total_seconds())
    )
    return response


# -- schools: the dashboard ------------------------------------------------------------


def _staff_for_guard() -> None:
    require(can_use_guard(staff_or_403()))


def _alert(alert_id: int) -> GuardAlert:
    staff = staff_or_403()
    require(can_use_guard(staff))
    alert = db_session().get(GuardAlert, alert_id)
    return require_found(alert, visible=alert is not None and can_see_alert(staff, alert))


@bp.get("/guard/alerts")
@staff_required
def alerts() -> str:
    _staff_for_guard()
    staff = staff_or_403()
    status = request.args.get("status", "open")
    if status not in {s.value for s in AlertStatus}:
        raise Invalid(_("Unknown status."))
    query = (
        select(GuardAlert)
        .where(GuardAlert.status == AlertStatus(status))
        .order_by(GuardAlert.updated_at.desc())
        .limit(ALERTS_SHOWN)
    )
    if not sees_every_school(staff):
        query = query.where(GuardAlert.school_id == staff.school_id)
    daily = daily_activity(
        db_session(),
        None if sees_every_school(staff) else staff.school_id,
        days=CHART_DAYS,
        now=now(),
    )
    chart = {
        "labels": daily.days,
        "sign_ins": daily.sign_ins,
        "alerts": daily.alerts,
        "downloads": daily.downloads,
        "names": {
            "sign_ins": _("Family sign-ins"),
            "downloads": _("Downloads"),
            "alerts": _("Alerts"),
        },
    }
    return render_template(
        "guard/alerts.html",
        chart=chart,
        alerts=list(db_session().scalars(query)),
        status=status,
        statuses=[s.value for s in AlertStatus],
        rule_text=RULE_TEXT,
        database_date=database_date(),
    )


@bp.get("/guard/alerts/<id:alert_id>")
@staff_required
def show_alert(alert_id: int) -> str:
    alert = _alert(alert_id)
    db = db_session()
    guardian = db.get(Guardian, alert.guardian_id) if alert.guardian_id else None
    holds = list(db.scalars(select(GuardHold).where(GuardHold.alert_id == alert.id)))
    return render_template(
        "guard/alert.html",
        alert=alert,
        guardian=guardian,
        holds=holds,
        downloads=recent_downloads(db, guardian.id, now=now()) if guardian else [],
        rule_text=RULE_TEXT,
        step_text=STEP_TEXT,
        manual_steps=[str(step) for step in MANUAL_STEPS],
        database_date=database_date(),
        form=ActionForm(),
    )


@bp.post("/guard/alerts/<id:alert_id>/<action>")
@staff_required
def act_on_alert(alert_id: int, action: str) -> WerkzeugResponse:
    alert = _alert(alert_id)
    staff = staff_or_403()
    db = db_session()
    target = url_for("guard.show_alert", alert_id=alert.id)
    details: dict[str, str | int] = {"reference": alert.reference}
    if action == "dismiss":
        kept = dismiss_as_household(db, staff, alert, now=now())
        details["members"] = kept
        message = _("Dismissed as a known household: these devices no longer count.")
    elif action == "lift":
        details["holds"] = lift(db, staff, alert, now=now())
        message = _("The response has been lifted.")
    elif action in MANUAL_STEPS:
        decision = apply_step(db, staff, alert, Step(action), now=now())
        details["sessions_ended"] = decision.sessions_ended
        message = str(STEP_TEXT[decision.step])
    else:
        raise NotFound()
    return commit_action(
        target,
        message,
        audited=Audited(f"guard.staff_{action}", alert.entity[:200], details),
    )


@bp.get("/guard/families/<id:family_id>")
@staff_required
def family(family_id: int) -> str:
    staff = staff_or_403()
    require(can_use_guard(staff))
    db = db_session()
    found = db.get(Family, family_id)
    record = require_found(
        found, visible=found is not None and manages_school(staff, found.school_id)
    )
    guardian_ids = [g.id for g in record.guardians]
    sessions = list(
        db.scalars(
            select(UserSession)
            .where(UserSession.guardian_id.in_(guardian_ids))
            .order_by(UserSession.created_at.desc())
            .limit(100)
        )
    )
    family_alerts = list(
        db.scalars(
            select(GuardAlert)
            .where(
                GuardAlert.guardian_id.in_(guardian_ids)
                | GuardAlert.entity.in_([account_entity(i) for i in guardian_ids])
            )
            .order_by(GuardAlert.updated_at.desc())
            .limit(100)
        )
    )
    devices = {
        guardian: account_devices(db, signal_store(), guardian.id, now=now())
        for guardian in record.guardians
    }
    return render_template(
        "guard/family.html",
        family=record,
        sessions=sessions,
        alerts=family_alerts,
        devices=devices,
        database_date=database_date(),
        now=now(),
    )
