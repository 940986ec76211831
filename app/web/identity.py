"""Who is signed in: Flask-Login on top of the server-side session records, the guards
every blueprint uses, and the session cookie.

Flask-Login provides ``current_user`` and nothing else: its own session keys and
remember-me cookie are never used.  A request loader reads our cookie (an opaque random
token), resolves it with :mod:`app.auth.sessions`, and returns a :class:`SignedIn` for an
active session.  The loader runs first thing in every request (``before_request``), so a
revoked or expired session is refused before any view runs and its touch is committed
without mixing into the view's transaction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.models import Guardian, SessionStage, StaffUser, UserSession
from app.auth.sessions import Account, account_of, resolve
from app.errors import Forbidden, NotFound
from app.extensions import client_ip, login_manager
from app.schools.models import Family
from app.web.context import db_session, now

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class SignedIn:
    """The Flask-Login user of a request with an active session."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, record: UserSession, account: Account) -> None:
        self.record = record
        self.account = account

    def get_id(self) -> str:
        return str(self.record.id)

    @property
    def guardian(self) -> Guardian | None:
        return self.account if isinstance(self.account, Guardian) else None

    @property
    def staff(self) -> StaffUser | None:
        return self.account if isinstance(self.account, StaffUser) else None


# -- cookies ---------------------------------------------------------------------------


def cookie_secure() -> bool:
    return bool(current_app.config["SESSION_COOKIE_SECURE"])


def session_cookie_name() -> str:
    # __Host-: only over https, only for this exact host, path=/ (no subdomain can plant it).
    return "__Host-photogate-sid" if cookie_secure() else "photogate-sid"


def set_cookie(response: WerkzeugResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=cookie_secure(),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: WerkzeugResponse, name: str) -> None:
    response.delete_cookie(name, path="/", secure=cookie_secure(), httponly=True, samesite="Lax")


# -- the loader ------------------------------------------------------------------------


def _load_from_request(_request: Any) -> SignedIn | None:
    token = request.cookies.get(session_cookie_name())
    if not token or g.get("identity_unavailable"):
        # Once the database has failed this request, the error page that says so is
        # rendered for an anonymous visitor instead of failing the same way again.
        return None
    try:
        return _resolve_session(token)
    except SQLAlchemyError:
        g.identity_unavailable = True
        raise


def _resolve_session(token: str) -> SignedIn | None:
    db = db_session()
    resolution = resolve(db, token, now=now())
    # The touch (or the ending of an expired session) belongs to no view: commit it now.
    db.commit()
    if resolution.record is None:
        g.clear_session_cookie = True
        if resolution.ended_reason not in (None, "unknown"):
            logger.info("session refused: %s", resolution.ended_reason)
        return None
    account = account_of(resolution.record)
    if account is None:
        return None
    if resolution.record.stage is not SessionStage.ACTIVE:
        g.pending_session = resolution.record
        return None
    return SignedIn(resolution.record, account)


_REQUEST_STATE = (
    "_login_user",
    "pending_session",
    "clear_session_cookie",
    "session_cookie_set",
    "identity_unavailable",
)


def _load_before_request() -> None:
    # ``g`` belongs to the application context, which can outlive one request (a test or a
    # CLI command may hold one open around several): never carry a user across requests.
    for name in _REQUEST_STATE:
        g.pop(name, None)
    if "_db_session" in g:
        db_session().expire_all()
    if request.endpoint and request.endpoint != "static":
        _ = current_user.is_authenticated


def _drop_stale_cookie(response: Response) -> Response:
    if g.get("clear_session_cookie") and not g.get("session_cookie_set"):
        clear_cookie(response, session_cookie_name())
    return response


def init_identity(app: Flask) -> None:
    """Bind Flask-Login to ``app`` with our loader."""
    login_manager.init_app(app)
    login_manager.request_loader(_load_from_request)
    # Flask-Login's own remember-me cookie is never issued; a cookie of that name sent by a
    # client would bypass the request loader, so its name is one no browser will send us.
    app.config["REMEMBER_COOKIE_NAME"] = "__Host-photogate-unused"
    login_manager.session_protection = None
    app.before_request(_load_before_request)
    app.after_request(_drop_stale_cookie)


# -- who is signed in ------------------------------------------------------------------


def current_signed_in() -> SignedIn | None:
    user = current_user._get_current_object()
    return user if isinstance(user, SignedIn) else None


def rate_key() -> str:
    """Whom a rate limit counts: the signed-in account (families behind one school network
    or one phone operator's address must not share a budget), else the client's address."""
    signed_in = current_signed_in()
    if signed_in is not None:
        if signed_in.guardian is not None:
            return f"guardian:{signed_in.guardian.id}"
        if signed_in.staff is not None:
            return f"staff:{signed_in.staff.id}"
    return client_ip()


def current_guardian() -> Guardian | None:
    signed_in = current_signed_in()
    return signed_in.guardian if signed_in is not None else None


def current_staff() -> StaffUser | None:
    signed_in = current_signed_in()
    return signed_in.staff if signed_in is not None else None


def pending_session() -> UserSession | None:
    """A staff sign-in waiting for its second factor (or TOTP enrolment), if any."""
    pending: UserSession | None = g.get("pending_session")
    return pending


def current_account() -> Account | None:
    signed_in = current_signed_in()
    return signed_in.account if signed_in is not None else None


def signed_in_or_403() -> SignedIn:
    """The signed-in user (views behind a guard decorator never see the 403)."""
    signed_in = current_signed_in()
    if signed_in is None:
        raise Forbidden()
    return signed_in


def guardian_or_403() -> Guardian:
    guardian = current_guardian()
    if guardian is None:
        raise Forbidden()
    return guardian


def family_member() -> tuple[Guardian, Family]:
    """The signed-in guardian and their family; 404 for a guardian not yet in one (there is
    nothing of a family's to see, buy or download)."""
    guardian = guardian_or_403()
    if guardian.family is None:
        raise NotFound()
    return guardian, guardian.family


def staff_or_403() -> StaffUser:
    staff = current_staff()
    if staff is None:
        raise Forbidden()
    return staff


# -- guards ----------------------------------------------------------------------------


def _sign_in_redirect(endpoint: str) -> WerkzeugResponse:
    target = request.full_path if request.query_string else request.path
    return redirect(f"{url_for(endpoint)}?{urlencode({'next': target})}", code=302)


def _guard(
    sign_in_endpoint: str, admits: Callable[[SignedIn], bool]
) -> Callable[[Callable[P, R]], Callable[P, R | WerkzeugResponse]]:
    """A view decorator: anonymous visitors go to ``sign_in_endpoint``; signed-in
    accounts that ``admits`` refuses get 403."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
            signed_in = current_signed_in()
            if signed_in is None:
                return _sign_in_redirect(sign_in_endpoint)
            if not admits(signed_in):
                raise Forbidden()
            return view(*args, **kwargs)

        return wrapper

    return decorate


#: Families only: anonymous visitors go to the family sign-in page; staff get 403.
guardian_required = _guard("auth.sign_in", lambda user: user.guardian is not None)
#: Staff only: anonymous visitors go to the staff sign-in page; guardians get 403.
staff_required = _guard("auth.staff_sign_in", lambda user: user.staff is not None)
#: Any signed-in account; anonymous visitors go to the family sign-in page.
account_required = _guard("auth.sign_in", lambda _user: True)
