"""Findings of an attack on the running app, each with the test that keeps it fixed:
remote staff lockout, Retry-After, sealed TOTP seeds, session rotation on joining a
family, and the login-binding cookie."""

from __future__ import annotations

import base64
import re
import zlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser, UserSession
from app.auth.policies import SYSTEM
from app.auth.totp import SEALED_PREFIX, open_secret, staff_owner
from app.db import utcnow
from app.families.services import issue_roster_invitations
from app.storage import BlobIntegrityError
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.auth.support import (
    csrf_token,
    family_sign_in,
    staff_account,
    staff_code_step,
    staff_password_step,
    start_login,
    totp_now,
)
from tests.factories import make_family, make_school
from tests.support.web import Clock

# -- staff lockout ---------------------------------------------------------------------


def _attack_from_three_networks(client: FlaskClient, email: str) -> None:
    """Ten wrong guesses from each of three networks: 30 in the hour, each network locked."""
    for network in range(3):
        for attempt in range(10):
            staff_password_step(client, email, f"guess-{attempt}", ip=f"198.51.{100 + network}.7")


def test_failures_from_elsewhere_never_lock_the_owner_out(
    client: FlaskClient, session: Session
) -> None:
    """An attacker spread over networks slows himself, never the staff member at their desk."""
    user, password = staff_account(session)
    _attack_from_three_networks(client, user.email)
    assert staff_password_step(client, user.email, "guess-x", ip="198.51.101.9").status_code == 429
    owner = staff_password_step(client, user.email, password, ip="203.0.113.20")
    assert owner.status_code == 303


def test_under_attack_each_new_network_gets_one_try(client: FlaskClient, session: Session) -> None:
    user, password = staff_account(session)
    _attack_from_three_networks(client, user.email)
    # 30 failures in the hour: a fresh network is locked after its first wrong guess ...
    first = staff_password_step(client, user.email, "another-guess", ip="192.0.2.50")
    assert first.status_code == 429
    assert staff_password_step(client, user.email, password, ip="192.0.2.50").status_code == 429
    # ... while a network that guesses nothing wrong is let in with the right password.
    assert staff_password_step(client, user.email, password, ip="203.0.113.150").status_code == 303


def test_addresses_of_one_network_share_their_lock(client: FlaskClient, session: Session) -> None:
    user, password = staff_account(session)
    for n in range(10):
        staff_password_step(client, user.email, f"guess-{n}", ip=f"198.51.100.{n + 1}")
    # Rotating through a /24 does not buy more guesses.
    assert staff_password_step(client, user.email, password, ip="198.51.100.99").status_code == 429


# -- Retry-After -----------------------------------------------------------------------


def test_a_lockout_answers_one_retry_after_that_the_page_states(
    client: FlaskClient, session: Session
) -> None:
    user, _ = staff_account(session)
    for n in range(10):
        staff_password_step(client, user.email, f"guess-{n}")
    locked = staff_password_step(client, user.email, "guess-x")
    assert locked.status_code == 429
    assert locked.headers.getlist("Retry-After") == [locked.headers["Retry-After"]]
    seconds = int(locked.headers["Retry-After"])
    minutes = max(1, -(-seconds // 60))
    page = locked.get_data(as_text=True)
    assert re.search(rf"\b{minutes}\b", page), page
    assert not any(name.startswith("X-RateLimit") for name, _ in locked.headers.items())


def test_ordinary_answers_carry_no_retry_after(client: FlaskClient, session: Session) -> None:
    user, password = staff_account(session)
    refused = staff_password_step(client, user.email, "wrong-password-1")
    assert refused.status_code == 401
    assert "Retry-After" not in refused.headers
    accepted = staff_password_step(client, user.email, password)
    assert accepted.status_code == 303
    assert "Retry-After" not in accepted.headers


# -- TOTP seeds ------------------------------------------------------------------------


def _flask_session_payload(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return ""
    value = cookie.value
    compressed = value.startswith(".")
    body = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode("utf-8", "replace")


def test_totp_seeds_are_sealed_and_never_sent_in_a_cookie(
    app: Flask, client: FlaskClient, session: Session, clock: Clock
) -> None:
    school = make_school(session)
    user, password = staff_account(session, StaffRole.SCHOOL_ADMIN, school, totp=False)
    assert staff_password_step(client, user.email, password).status_code == 303
    page = client.get("/staff/enrol").get_data(as_text=True)
    secret = re.search(r"\b([A-Z2-7]{32})\b", page)
    assert secret is not None
    seed = secret.group(1)
    # Kept on the server, sealed: neither the cookie nor the database holds it in clear.
    assert seed not in _flask_session_payload(client, app)
    pending = session.scalars(select(UserSession).where(UserSession.staff_user_id == user.id)).all()
    stored = [p.pending_totp_secret for p in pending if p.pending_totp_secret]
    assert stored
    assert all(seed not in value for value in stored)

    import pyotp

    token = csrf_token(client, "/staff/enrol")
    done = client.post(
        "/staff/enrol", data={"csrf_token": token, "code": pyotp.TOTP(seed).at(clock.now)}
    )
    assert done.status_code == 200
    session.expire_all()
    enrolled = session.get(StaffUser, user.id)
    assert enrolled is not None
    assert enrolled.totp_secret is not None
    assert enrolled.totp_secret.startswith(SEALED_PREFIX)
    assert seed not in enrolled.totp_secret
    keyring = runtime(app).blobs.keyring
    assert open_secret(keyring, staff_owner(user.id), enrolled.totp_secret) == seed
    # A sealed seed copied onto another account's row does not open there.
    other, _ = staff_account(session, StaffRole.SCHOOL_ADMIN, school, totp=False)
    with pytest.raises(BlobIntegrityError):
        open_secret(keyring, staff_owner(other.id), enrolled.totp_secret)


def test_a_plain_seed_from_before_sealing_still_works_and_is_sealed_on_use(
    app: Flask, client: FlaskClient, session: Session, clock: Clock
) -> None:
    user, password = staff_account(session)
    plain = user.totp_secret
    assert plain is not None
    assert not plain.startswith(SEALED_PREFIX)
    assert staff_password_step(client, user.email, password).status_code == 303
    assert staff_code_step(client, totp_now(user, clock.now)).status_code == 303
    session.expire_all()
    resealed = session.get(StaffUser, user.id)
    assert resealed is not None
    assert resealed.totp_secret is not None
    assert resealed.totp_secret.startswith(SEALED_PREFIX)
    keyring = runtime(app).blobs.keyring
    assert open_secret(keyring, staff_owner(user.id), resealed.totp_secret) == plain


# -- families ----------------------------------------------------------------------------


def test_joining_a_family_starts_a_new_session(
    app: Flask, client: FlaskClient, session: Session, oidc_users: dict
) -> None:
    school = make_school(session)
    family = make_family(session, school)
    code = issue_roster_invitations(
        session, SYSTEM, school, [family.id], key=runtime(app).keys.codes, now=utcnow()
    )[0].code
    session.commit()
    family_sign_in(client, oidc_users["alice"])
    with app.test_request_context():
        name = session_cookie_name()
    before = client.get_cookie(name)
    assert before is not None
    joined = client.post("/join", data={"csrf_token": csrf_token(client, "/join"), "code": code})
    assert joined.status_code == 303
    after = client.get_cookie(name)
    assert after is not None
    assert after.value != before.value
    assert client.get("/family").status_code == 200
    # The token from before the join opens nothing any more.
    stale = app.test_client()
    stale.set_cookie(name, before.value)
    assert stale.get("/family").status_code == 302


# -- the login-binding cookie ----------------------------------------------------------


def test_a_planted_login_cookie_value_is_never_adopted(
    app: Flask, client: FlaskClient, oidc_users: dict
) -> None:
    """Each sign-in attempt gets its own fresh binding cookie: a value planted in the
    browser beforehand (by another site on this host) never becomes the binding."""
    client.set_cookie("photogate-login", "planted-value")
    authorize = start_login(client)
    state = re.search(r"[?&]state=([^&]+)", authorize)
    assert state is not None
    bindings = [cookie for cookie in client._cookies.values() if "login-" in cookie.key]
    assert len(bindings) == 1
    assert bindings[0].value != "planted-value"


def test_the_language_cookie_has_the_host_prefix_with_secure_cookies(
    app: Flask, settings: object
) -> None:
    from app.web.i18n import language_cookie_name

    secure = create_secure_app(settings)
    with secure.test_request_context():
        assert language_cookie_name() == "__Host-photogate-lang"
    with app.test_request_context():
        assert language_cookie_name() == "photogate-lang"


def create_secure_app(settings: object) -> Flask:
    from app import create_app

    return create_app(settings.with_overrides(cookie_secure=True))  # type: ignore[attr-defined]
