"""Fixtures of the studio tests: an assigned photographer, their API token, the blob store.

The ``app`` here runs jobs inline even when the suite runs against Redis: these tests sit
inside a transaction that is rolled back, which no worker process could see.  The queued
path has its own tests on a committed database (test_worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.login import session_cookie_name
from app.auth.models import Guardian, StaffRole, StaffUser
from app.auth.sessions import start_session
from app.db import utcnow
from app.gallery.models import Event
from app.jobs import JobRunner
from app.storage import EncryptedBlobs
from app.studio.jobs import app_blobs
from app.studio.services import create_api_token
from tests.factories import make_event, make_school, make_staff


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared test app, with processing run inline in the request."""
    app.extensions["photogate.jobs"] = JobRunner(None)
    return app


@pytest.fixture
def blobs(app: Flask) -> EncryptedBlobs:
    """The app's encrypted photo store (files under the test's var/blobs)."""
    return app_blobs(app)


@dataclass
class Studio:
    """A school, an event, and a photographer assigned to it with an API token."""

    photographer: StaffUser
    event: Event
    token: str


def studio_for(session: Session, *, name: str = "A") -> Studio:
    school = make_school(session)
    photographer = make_staff(session, StaffRole.PHOTOGRAPHER, display_name=f"Photographer {name}")
    event = make_event(session, school)
    event.photographers.append(photographer)
    issued = create_api_token(session, photographer, f"laptop {name}", now=utcnow())
    session.commit()
    return Studio(photographer=photographer, event=event, token=issued.token)


@pytest.fixture
def studio(session: Session) -> Studio:
    """Photographer A, assigned to one event of their school, with an API token."""
    return studio_for(session, name="A")


def sign_in(app: Flask, client: FlaskClient, session: Session, user: StaffUser | Guardian) -> None:
    """Give ``client`` the session cookie of a fresh, fully signed-in session of ``user``.

    The sign-in flow itself (password, TOTP, OpenID Connect) is tested by the identity
    feature; the studio tests start from its result.
    """
    started = start_session(session, user, now=utcnow())
    session.commit()
    with app.test_request_context():
        name = session_cookie_name()
    client.set_cookie(name, started.token)
