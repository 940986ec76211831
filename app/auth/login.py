"""Starting and ending a signed-in session in a response (the identity views only)."""

from __future__ import annotations

import hashlib

from flask import g, request, session
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.models import SessionStage, UserSession
from app.auth.sessions import Account, start_session, timeouts_for
from app.extensions import client_ip
from app.web.context import db_session, now
from app.web.identity import (
    clear_cookie,
    cookie_secure,
    current_signed_in,
    pending_session,
    session_cookie_name,
    set_cookie,
)


def login_cookie_name(state: str) -> str:
    """The cookie that binds one family sign-in to the browser that started it.

    One cookie per sign-in attempt, named after its state, so two attempts in two tabs do
    not overwrite each other; its value is a fresh random token (never one the browser
    already had), checked against the attempt's record in constant time.
    """
    suffix = hashlib.sha256(state.encode()).hexdigest()[:12]
    prefix = "__Host-photogate-login-" if cookie_secure() else "photogate-login-"
    return prefix + suffix


def begin_session(
    response: WerkzeugResponse, account: Account, stage: SessionStage = SessionStage.ACTIVE
) -> UserSession:
    """Start a fresh session for ``account`` and put its token in a cookie.

    Anything the browser had before (its previous session, the Flask session with its CSRF
    token) is dropped: nothing chosen before sign-in survives it.
    """
    previous = current_signed_in()
    replaces = previous.record if previous is not None else pending_session()
    session.clear()
    started = start_session(
        db_session(),
        account,
        now=now(),
        stage=stage,
        user_agent=request.headers.get("User-Agent", ""),
        ip=client_ip(),
        replaces=replaces,
    )
    max_age = int(timeouts_for(account, stage).absolute.total_seconds())
    set_cookie(response, session_cookie_name(), started.token, max_age)
    g.session_cookie_set = True
    return started.record


def sign_out_response(response: WerkzeugResponse) -> WerkzeugResponse:
    """Clear the session cookie (and the Flask session) on ``response``."""
    session.clear()
    clear_cookie(response, session_cookie_name())
    g.session_cookie_set = True
    return response
