"""Helpers of the identity tests: CSRF tokens, the family sign-in flow, staff credentials."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app import create_app
from app.auth.local_provider import UserSpec
from app.auth.models import StaffRole, StaffUser
from app.auth.passwords import hash_password
from app.config import Settings
from app.schools.models import School
from app.web.context import runtime
from tests.factories import make_staff
from tests.idp import sign_in
from tests.support.web import csrf_token

STAFF_PASSWORD = "violet-harbour-lantern-42"


def start_login(client: FlaskClient, next_url: str | None = None) -> str:
    """Press the provider button; return the authorization URL we are sent to."""
    token = csrf_token(client, "/signin")
    data = {"csrf_token": token}
    if next_url is not None:
        data["next"] = next_url
    response = client.post("/auth/login/local", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def family_sign_in(
    client: FlaskClient, user: UserSpec, next_url: str | None = None
) -> TestResponse:
    """The whole family sign-in through the real provider; returns the callback's response."""
    authorize = start_login(client, next_url)
    callback = sign_in(authorize, user.username, user.password)
    return client.get(local_path(callback))


def staff_account(
    session: Session,
    role: StaffRole = StaffRole.SCHOOL_ADMIN,
    school: School | None = None,
    *,
    password: str = STAFF_PASSWORD,
    totp: bool = True,
) -> tuple[StaffUser, str]:
    """A staff member with a password and (unless totp=False) a TOTP secret."""
    user = make_staff(
        session,
        role,
        school_id=school.id if school is not None else None,
        password_hash=hash_password(password),
        totp_secret=pyotp.random_base32() if totp else None,
    )
    session.commit()
    return user, password


def totp_now(user: StaffUser, when: dt.datetime, steps: int = 0) -> str:
    assert user.totp_secret is not None
    totp = pyotp.TOTP(user.totp_secret)
    return totp.at(when + dt.timedelta(seconds=30 * steps))


def staff_password_step(
    client: FlaskClient, email: str, password: str, ip: str = "127.0.0.1"
) -> TestResponse:
    token = csrf_token(client, "/staff/signin")
    return client.post(
        "/staff/signin",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def staff_code_step(client: FlaskClient, code: str) -> TestResponse:
    token = csrf_token(client, "/staff/signin/code")
    return client.post("/staff/signin/code", data={"csrf_token": token, "code": code})


def staff_sign_in(
    client: FlaskClient, user: StaffUser, password: str, when: dt.datetime
) -> TestResponse:
    """Password and TOTP; returns the response of the second step."""
    first = staff_password_step(client, user.email, password)
    assert first.status_code == 303, first.get_data(as_text=True)
    return staff_code_step(client, totp_now(user, when))


@contextmanager
def rolled_back_app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """An extra application (other settings) whose writes are rolled back like ``app``'s."""
    application = create_app(settings)
    connection = engine.connect()
    transaction = connection.begin()
    runtime(application).database.bind_to(connection)
    try:
        yield application
    finally:
        transaction.rollback()
        connection.close()
        runtime(application).database.engine.dispose()
