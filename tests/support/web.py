"""Driving the web app in tests: CSRF tokens, a signed-in client, and a clock to move."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffUser
from app.auth.sessions import start_session
from app.db import utcnow
from app.web.context import runtime
from app.web.identity import session_cookie_name

_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token of the page at ``path`` (the client keeps the session that holds it)."""
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def sign_in(app: Flask, client: FlaskClient, session: Session, user: StaffUser | Guardian) -> None:
    """Give ``client`` the session cookie of a fresh, fully signed-in session of ``user``.

    The sign-in flows themselves (password, TOTP, OpenID Connect) are tested by the
    identity tests; other features start from their result.
    """
    started = start_session(session, user, now=runtime(app).now())
    session.commit()
    with app.test_request_context():
        name = session_cookie_name()
    client.set_cookie(name, started.token)


class Clock:
    """A settable clock for the app: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def dashboard_chart(html: str) -> dict[str, Any]:
    """The numbers of the guard dashboard's chart, from its canvas."""
    raw = html.split("data-chart='", 1)[1].split("'", 1)[0]
    chart: dict[str, Any] = json.loads(unescape(raw))
    return chart


def in_english(client: FlaskClient) -> FlaskClient:
    """Have ``client`` ask for English pages (the portal's default language is Japanese)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client
