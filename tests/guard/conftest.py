"""The guard's fixtures: the app behind one trusted proxy (so tests choose the client's
address with X-Forwarded-For), a school with families, and devices as test clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.auth.models import Guardian
from app.config import Settings
from app.schools.models import School
from tests.factories import make_family, make_guardian, make_school
from tests.support.web import sign_in

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
SCHOOL_NETWORK = "203.0.113.0/24"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(trusted_proxies=1, guard_school_networks=(SCHOOL_NETWORK,))


@dataclass
class Device:
    """One browser: its own cookie jar (device cookie), user agent and address."""

    client: FlaskClient
    user_agent: str
    ip: str

    def get(self, path: str) -> TestResponse:
        return self.client.get(
            path,
            headers={"User-Agent": self.user_agent, "X-Forwarded-For": self.ip},
        )


@pytest.fixture
def school(session: Session) -> School:
    school = make_school(session)
    session.commit()
    return school


@pytest.fixture
def new_guardian(session: Session, school: School) -> Callable[[], Guardian]:
    """A guardian of a new family of the school."""

    def make() -> Guardian:
        guardian = make_guardian(session, make_family(session, school))
        session.commit()
        return guardian

    return make


@pytest.fixture
def device(app: Flask, session: Session) -> Callable[..., Device]:
    """A new browser, signed in as ``guardian`` when given."""

    def make(
        guardian: Guardian | None = None,
        *,
        user_agent: str = CHROME_WINDOWS,
        ip: str = "192.0.2.10",
        client: FlaskClient | None = None,
    ) -> Device:
        browser = client or app.test_client()
        if guardian is not None:
            sign_in(app, browser, session, guardian)
        return Device(browser, user_agent, ip)

    return make
