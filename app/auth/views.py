"""Sign-in and sign-out: families through OpenID Connect, staff with password and TOTP."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.forms import (
    CodeForm,
    EnrolForm,
    ProviderSignInForm,
    SetPasswordForm,
    StaffSignInForm,
)
from app.auth.login import begin_session, login_cookie_name, sign_out_response
from app.auth.models import SessionStage, StaffUser
from app.auth.oidc import LOGIN_REQUEST_LIFETIME, CallbackRejected, ProviderUnavailable
from app.auth.services import (
    CodeRefused,
    SignInFailed,
    authenticate_staff,
    confirm_totp_enrolment,
    guardian_for_identity,
    normalise_email,
    offer_totp_enrolment,
    offered_totp_secret,
    set_password_with_link,
    valid_link,
    verify_second_factor,
)
from app.auth.sessions import active_sessions, end_all_sessions, end_session, session_of
from app.auth.throttle import Locked
from app.auth.tokens import new_token, sha256_hex
from app.auth.totp import provisioning_uri
from app.errors import Invalid, NotFound
from app.extensions import client_ip, limiter
from app.guard.watch import after_sign_in
from app.i18n import gettext as _
from app.qr import qr_svg
from app.urls import safe_next
from app.web.audit import audit
from app.web.context import db_session, kek, keys, now, oidc_client
from app.web.errors import error_response
from app.web.forms import ActionForm
from app.web.identity import (
    account_required,
    clear_cookie,
    current_signed_in,
    pending_session,
    set_cookie,
    signed_in_or_403,
)

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__, template_folder="templates")

# Callback parameters that must appear at most once (a second copy could smuggle a value
# past one check and into another).
_SINGLE_PARAMETERS = ("code", "state", "iss", "error")


def _pending_staff_key() -> str:
    pending = pending_session()
    return f"staff-pending:{pending.staff_user_id if pending is not None else '-'}"


# -- families ------------------------------------------------------------------------


@bp.get("/signin")
def sign_in() -> str:
    form = ProviderSignInForm(next=safe_next(request.args.get("next"), ""))
    return render_template("auth/sign_in.html", form=form, providers=oidc_client().providers)


@bp.post("/auth/login/<provider>")
@limiter.limit("20/minute;200/hour")
def start_login(provider: str) -> WerkzeugResponse:
    form = ProviderSignInForm()
    client = oidc_client()
    chosen = client.provider(provider)
    if chosen is None:
        raise NotFound()
    db = db_session()
    browser = new_token()
    try:
        url, state = client.begin(
            db,
            chosen,
            browser_token=browser,
            next_url=safe_next(form.next.data, ""),
            now=now(),
        )
    except ProviderUnavailable as error:
        db.rollback()
        audit(
            "auth.provider_unavailable",
            subject=f"provider:{provider}",
            details={"reason": error.reason},
        )
        db.commit()
        raise
    db.commit()
    response = redirect(url, code=303)
    set_cookie(
        response, login_cookie_name(state), browser, int(LOGIN_REQUEST_LIFETIME.total_seconds())
    )
    return response


@bp.get("/auth/callback/<provider>")
@limiter.limit("30/minute;300/hour")
def callback(provider: str) -> WerkzeugResponse:
    client = oidc_client()
    chosen = client.provider(provider)
    if chosen is None:
        raise NotFound()
    db = db_session()
    try:
        if any(len(request.args.getlist(name)) > 1 for name in _SINGLE_PARAMETERS):
            raise CallbackRejected("duplicate_parameter")
        identity = client.complete(
            db,
            chosen,
            params=request.args.to_dict(flat=True),
            browser_token=request.cookies.get(login_cookie_name(request.args.get("state", ""))),
            now=now(),
        )
    except (CallbackRejected, ProviderUnavailable) as error:
        # The spent state stays spent: the audit event and that mark are committed together.
        audit(
            "auth.callback_rejected",
            subject=f"provider:{provider}",
            details={"reason": error.reason},
        )
        db.commit()
        logger.warning("OpenID callback for %s rejected: %s", provider, error.reason)
        response = error_response(error.status_code, error.message)
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
    guardian = guardian_for_identity(db, identity, now=now())
    if not guardian.is_active:
        audit(
            "auth.sign_in_refused",
            actor=guardian,
            subject=f"guardian:{guardian.id}",
            details={"reason": "account_disabled"},
        )
        db.commit()
        return error_response(403, _("This account has been disabled by the school."))
    default = url_for("gallery.home")
    target = safe_next(identity.next_url, default) if identity.next_url else default
    redirect_response: WerkzeugResponse = redirect(target)
    record = begin_session(redirect_response, guardian)
    audit(
        "auth.sign_in",
        actor=guardian,
        subject=f"guardian:{guardian.id}",
        details={"provider": provider, "afresh": identity.authenticated_afresh()},
    )
    db.commit()
    redirect_response = after_sign_in(
        guardian, record, afresh=identity.authenticated_afresh(), response=redirect_response
    )
    clear_cookie(redirect_response, login_cookie_name(request.args.get("state", "")))
    # The callback URL carries the code: never let it leak onward in a Referer.
    redirect_response.headers["Referrer-Policy"] = "no-referrer"
    return redirect_response


# -- signing out and sessions ------------------------------------------------------------


@bp.post("/signout")
def sign_out() -> WerkzeugResponse:
    signed_in = current_signed_in()
    db = db_session()
    pending = pending_session()
    if signed_in is not None:
        end_session(db, signed_in.record, now=now(), reason="sign_out")
        audit("auth.sign_out")
    elif pending is not None:
        end_session(db, pending, now=now(), reason="sign_out")
    db.commit()
    response = sign_out_response(redirect(url_for("main.home"), code=303))
    flash(_("You are signed out."))
    return response


@bp.post("/signout/everywhere")
@account_required
def sign_out_everywhere() -> WerkzeugResponse:
    account = signed_in_or_403().account
    db = db_session()
    ended = end_all_sessions(db, account, now=now(), reason="sign_out_everywhere")
    audit("auth.sign_out_everywhere", details={"sessions": ended})
    db.commit()
    response = sign_out_response(redirect(url_for("main.home"), code=303))
    flash(_("You are signed out on every device."))
    return response


@bp.get("/account/sessions")
@account_required
def sessions() -> str:
    signed_in = signed_in_or_403()
    records = active_sessions(db_session(), signed_in.account, now=now())
    return render_template(
        "auth/sessions.html", records=records, current_id=signed_in.record.id, form=ActionForm()
    )


@bp.post("/account/sessions/<id:session_id>/end")
@account_required
def end_one_session(session_id: int) -> WerkzeugResponse:
    signed_in = signed_in_or_403()
    db = db_session()
    record = session_of(db, signed_in.account, session_id)
    if record is None:
        raise NotFound()
    end_session(db, record, now=now(), reason="ended_by_user")
    audit("auth.session_ended", subject=f"session:{record.id}")
    db.commit()
    if record.id == signed_in.record.id:
        return sign_out_response(redirect(url_for("main.home"), code=303))
    flash(_("The session has been ended."))
    return redirect(url_for("auth.sessions"), code=303)


# -- staff ---------------------------------------------------------------------------


def _staff_landing(next_url: str | None) -> str:
    return safe_next(next_url, url_for("admin.home"))


@bp.route("/staff/signin", methods=["GET", "POST"])
@limiter.limit("30/minute;300/hour", methods=["POST"])
def staff_sign_in() -> str | WerkzeugResponse | tuple[str, int]:
    form = StaffSignInForm()
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next"), "")
    if form.validate_on_submit():
        db = db_session()
        email_hash = sha256_hex(normalise_email(form.email.data or ""))[:16]
        try:
            user = authenticate_staff(
                db, form.email.data or "", form.password.data or "", ip=client_ip(), now=now()
            )
        except Locked:
            audit("auth.staff_locked", details={"email_sha256": email_hash})
            db.commit()
            raise
        except SignInFailed as error:
            audit("auth.staff_sign_in_failed", details={"email_sha256": email_hash})
            db.commit()
            return render_template("auth/staff_sign_in.html", form=form, error=error.message), 401
        stage = SessionStage.SECOND_FACTOR if user.totp_secret else SessionStage.ENROL
        target = "auth.staff_second_factor" if user.totp_secret else "auth.staff_enrol"
        response = redirect(url_for(target, next=form.next.data or None), code=303)
        record = begin_session(response, user, stage)
        if stage is SessionStage.ENROL:
            offer_totp_enrolment(db, record, kek())
        audit("auth.staff_password_accepted", actor=user, subject=f"staff:{user.id}")
        db.commit()
        return response
    return render_template("auth/staff_sign_in.html", form=form, error=None)


def _pending_staff(stage: SessionStage) -> StaffUser | None:
    pending = pending_session()
    if pending is None or pending.stage is not stage or pending.staff_user is None:
        return None
    return pending.staff_user


@bp.route("/staff/signin/code", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
@limiter.limit("20/hour", key_func=_pending_staff_key, methods=["POST"])
def staff_second_factor() -> str | WerkzeugResponse | tuple[str, int]:
    user = _pending_staff(SessionStage.SECOND_FACTOR)
    if user is None:
        return redirect(url_for("auth.staff_sign_in"), code=303)
    form = CodeForm()
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next"), "")
    if form.validate_on_submit():
        db = db_session()
        try:
            method = verify_second_factor(
                db, user, form.code.data or "", key=keys().codes, keyring=kek(), now=now()
            )
        except Locked:
            audit("auth.second_factor_locked", actor=user, subject=f"staff:{user.id}")
            db.commit()
            raise
        except CodeRefused as error:
            audit("auth.second_factor_failed", actor=user, subject=f"staff:{user.id}")
            db.commit()
            return render_template("auth/second_factor.html", form=form, error=error.message), 400
        response = redirect(_staff_landing(form.next.data), code=303)
        begin_session(response, user)
        audit("auth.sign_in", actor=user, subject=f"staff:{user.id}", details={"method": method})
        db.commit()
        return response
    return render_template("auth/second_factor.html", form=form, error=None)


@bp.route("/staff/enrol", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def staff_enrol() -> str | WerkzeugResponse | tuple[str, int]:
    user = _pending_staff(SessionStage.ENROL)
    pending = pending_session()
    # The seed was made with the enrolment session and is kept (sealed) in its row on the
    # server; it never travels in a cookie.
    secret = offered_totp_secret(pending, kek()) if pending is not None else None
    if user is None or secret is None:
        return redirect(url_for("auth.staff_sign_in"), code=303)
    form = EnrolForm()
    error = None
    if form.validate_on_submit():
        db = db_session()
        try:
            codes = confirm_totp_enrolment(
                db,
                user,
                secret,
                form.code.data or "",
                key=keys().codes,
                keyring=kek(),
                now=now(),
            )
        except CodeRefused as refused:
            error = refused.message
        else:
            response = make_response(
                render_template(
                    "auth/recovery_codes.html", codes=codes, next_url=url_for("admin.home")
                )
            )
            begin_session(response, user)
            audit("auth.totp_enrolled", actor=user, subject=f"staff:{user.id}")
            db.commit()
            return response
    uri = provisioning_uri(secret, user.email)
    html = render_template("auth/enrol.html", form=form, qr=qr_svg(uri), secret=secret, error=error)
    return (html, 400) if error else html


@bp.route("/staff/set-password/<token>", methods=["GET", "POST"])
@limiter.limit("20/minute")
def set_password(token: str) -> str | WerkzeugResponse | tuple[str, int]:
    db = db_session()
    link = valid_link(db, token, now=now())
    if link is None:
        return error_response(
            400, _("This link has expired or was already used. Ask for a new one.")
        )
    form = SetPasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            user = set_password_with_link(db, token, form.password.data or "", now=now())
        except Invalid as problem:
            error = problem.message
        else:
            target = "auth.staff_enrol" if user.totp_secret is None else "auth.staff_sign_in"
            response = redirect(url_for(target), code=303)
            if user.totp_secret is None:
                record = begin_session(response, user, SessionStage.ENROL)
                offer_totp_enrolment(db, record, kek())
            audit("auth.password_set", actor=user, subject=f"staff:{user.id}")
            db.commit()
            return response
    html = render_template(
        "auth/set_password.html", form=form, error=error, email=link.staff_user.email
    )
    return (html, 400) if error else html


@bp.after_request
def _no_referrer_for_secrets(response: WerkzeugResponse) -> WerkzeugResponse:
    # Set-password links carry their token in the path.
    if request.endpoint == "auth.set_password":
        response.headers["Referrer-Policy"] = "no-referrer"
    return response
