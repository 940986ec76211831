"""Server-side sessions: fixation, replay after sign-out, sign out everywhere, timeouts."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.local_provider import LocalProvider, UserSpec
from app.auth.models import Guardian, StaffRole, UserSession
from app.auth.tokens import sha256_hex
from tests.auth.support import csrf_token, family_sign_in, staff_account, staff_sign_in
from tests.factories import make_school
from tests.support.web import Clock

SID = "photogate-sid"


def _sid(client: FlaskClient) -> str:
    cookie = client.get_cookie(SID)
    assert cookie is not None
    return cookie.value


def _family_ok(client: FlaskClient) -> bool:
    return client.get("/family").status_code == 200


def test_cookie_holds_an_opaque_token_and_the_table_only_its_hash(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    token = _sid(client)
    record = session.scalars(select(UserSession)).one()
    assert record.token_hash == sha256_hex(token)
    assert token not in record.token_hash
    assert len(token) >= 43


def test_session_fixation_a_planted_cookie_is_never_adopted(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    planted = "attacker-chosen-session-identifier-0123456789abcdef"
    client.set_cookie(SID, planted)
    family_sign_in(client, oidc_users["alice"])
    assert _sid(client) != planted
    assert (
        session.scalar(select(UserSession).where(UserSession.token_hash == sha256_hex(planted)))
        is None
    )
    other = client.application.test_client()
    other.set_cookie(SID, planted)
    assert not _family_ok(other)


def test_signing_in_again_replaces_the_previous_session(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    first = _sid(client)
    family_sign_in(client, oidc_users["alice"])
    assert _sid(client) != first
    stale = client.application.test_client()
    stale.set_cookie(SID, first)
    assert not _family_ok(stale)


def test_cookie_replay_after_sign_out_is_refused(
    app: Flask, client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    stolen = _sid(client)
    response = client.post("/signout", data={"csrf_token": csrf_token(client, "/family")})
    assert response.status_code == 303
    assert client.get_cookie(SID) is None
    thief = app.test_client()
    thief.set_cookie(SID, stolen)
    assert not _family_ok(thief)


def test_sign_out_is_a_post_with_csrf(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    assert client.get("/signout").status_code == 405
    assert client.post("/signout", data={}).status_code == 400
    assert _family_ok(client)


def test_cookie_replay_after_sign_out_everywhere_is_refused(
    app: Flask, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    phone, laptop = app.test_client(), app.test_client()
    family_sign_in(phone, oidc_users["alice"])
    family_sign_in(laptop, oidc_users["alice"])
    phone_cookie = _sid(phone)
    response = laptop.post(
        "/signout/everywhere", data={"csrf_token": csrf_token(laptop, "/account/sessions")}
    )
    assert response.status_code == 303
    assert not _family_ok(phone)
    replay = app.test_client()
    replay.set_cookie(SID, phone_cookie)
    assert not _family_ok(replay)
    assert not _family_ok(laptop)


def test_a_session_version_bump_ends_sessions_on_the_next_request(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    guardian = session.scalars(select(Guardian)).one()
    guardian.session_version += 1
    session.commit()
    assert not _family_ok(client)


def test_sessions_page_lists_and_ends_other_devices(
    app: Flask, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    phone, laptop = app.test_client(), app.test_client()
    family_sign_in(
        phone,
        oidc_users["alice"],
    )
    family_sign_in(laptop, oidc_users["alice"])
    html = laptop.get("/account/sessions", headers={"User-Agent": "x"}).get_data(as_text=True)
    assert "127.0.0.0/24" in html
    phone_record = session.scalar(
        select(UserSession).where(UserSession.token_hash == sha256_hex(_sid(phone)))
    )
    assert phone_record is not None
    token = csrf_token(laptop, "/account/sessions")
    response = laptop.post(f"/account/sessions/{phone_record.id}/end", data={"csrf_token": token})
    assert response.status_code == 303
    assert not _family_ok(phone)
    assert _family_ok(laptop)


def test_ending_someone_elses_session_is_404(
    app: Flask, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    alice, bob = app.test_client(), app.test_client()
    family_sign_in(alice, oidc_users["alice"])
    family_sign_in(bob, oidc_users["bob"])
    bob_record = session.scalar(
        select(UserSession).where(UserSession.token_hash == sha256_hex(_sid(bob)))
    )
    assert bob_record is not None
    token = csrf_token(alice, "/account/sessions")
    response = alice.post(f"/account/sessions/{bob_record.id}/end", data={"csrf_token": token})
    assert response.status_code == 404
    assert _family_ok(bob)


def test_family_idle_timeout_is_30_minutes(
    client: FlaskClient, clock: Clock, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    clock.advance(minutes=29)
    assert _family_ok(client)
    clock.advance(minutes=29)
    assert _family_ok(client)
    clock.advance(minutes=30, seconds=1)
    assert not _family_ok(client)


def test_family_absolute_timeout_is_12_hours_even_when_active(
    client: FlaskClient, clock: Clock, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    for _ in range(24):
        clock.advance(minutes=29)
        assert _family_ok(client)
    clock.advance(minutes=24)  # 12 h since sign-in
    assert not _family_ok(client)


def test_staff_idle_timeout_is_15_minutes(app: Flask, session: Session, clock: Clock) -> None:
    user, password = staff_account(session, StaffRole.SCHOOL_ADMIN, make_school(session))
    client = app.test_client()
    assert staff_sign_in(client, user, password, clock.now).status_code == 303
    clock.advance(minutes=14)
    assert client.get("/staff").status_code == 200
    clock.advance(minutes=15)
    assert client.get("/staff").status_code == 302


def test_staff_absolute_timeout_is_8_hours(app: Flask, session: Session, clock: Clock) -> None:
    user, password = staff_account(session, StaffRole.SCHOOL_ADMIN, make_school(session))
    client = app.test_client()
    assert staff_sign_in(client, user, password, clock.now).status_code == 303
    for _ in range(34):
        clock.advance(minutes=14)
        assert client.get("/staff").status_code == 200
    clock.advance(minutes=4)  # 8 h since sign-in
    assert client.get("/staff").status_code == 302
