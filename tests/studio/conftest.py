"""Fixtures of the studio tests: an assigned photographer, their API token, the blob store.

The ``app`` here runs jobs inline even when the suite runs against Redis: these tests sit
inside a transaction that is rolled back, which no worker process could see.  The queued
path has its own tests on a committed database (test_worker.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser
from app.db import utcnow
from app.jobs import JobQueue
from app.photos.models import Event
from app.storage import EncryptedBlobs
from app.studio.services import create_api_token
from app.web.context import runtime
from tests.factories import make_event, make_school, make_staff


@pytest.fixture
def app(app: Flask) -> Flask:
    """The shared test app, with processing run inline in the request."""
    runtime(app).jobs = JobQueue(None)
    return app


@pytest.fixture
def blobs(app: Flask) -> EncryptedBlobs:
    """The app's encrypted photo store (files under the test's var/blobs)."""
    return runtime(app).blobs


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
