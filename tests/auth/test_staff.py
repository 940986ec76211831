"""Staff sign-in: Argon2id passwords with lockout, TOTP once per step, recovery codes,
set-password links, TOTP enrolment."""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import StaffRole, StaffUser
from app.auth.password_policy import password_problems
from app.auth.services import create_staff
from tests.auth.support import (
    csrf_token,
    staff_account,
    staff_code_step,
    staff_password_step,
    staff_sign_in,
    totp_now,
)
from tests.factories import make_school, make_staff
from tests.support.web import Clock


def test_staff_signs_in_with_password_and_totp(
    client: FlaskClient, session: Session, clock: Clock
) -> None:
    user, password = staff_account(session, StaffRole.SCHOOL_ADMIN, make_school(session))
    first = staff_password_step(client, user.email, password)
    assert first.status_code == 303
    assert first.headers["Location"].startswith("/staff/signin/code")
    # Password alone is not a sign-in.
    assert client.get("/staff").status_code == 302
    second = staff_code_step(client, totp_now(user, clock.now))
    assert second.status_code == 303
    assert client.get("/staff").status_code == 200


def test_password_hashes_are_argon2id(session: Session) -> None:
    user, _ = staff_account(session)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")


def test_wrong_password_and_unknown_account_answer_alike(
    client: FlaskClient, session: Session
) -> None:
    user, _ = staff_account(session)
    wrong = staff_password_step(client, user.email, "not-the-password-at-all")
    unknown = staff_password_step(client, "nobody@example.test", "not-the-password-at-all")
    assert wrong.status_code == unknown.status_code == 401

    def alert(html: str) -> str:
        match = re.search(r'role="alert">([^<]+)<', html)
        assert match
        return match.group(1)

    assert alert(wrong.get_data(as_text=True)) == alert(unknown.get_data(as_text=True))
    assert set(wrong.headers.keys()) == set(unknown.headers.keys())


def test_unknown_accounts_still_cost_an_argon2_verification(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.auth import services

    calls: list[str] = []
    real = services.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash[:10])
        return real(password_hash, password)

    monkeypatch.setattr(services, "verify_password", counting)
    staff_password_step(client, "nobody@example.test", "whatever-password-1")
    assert calls == ["$argon2id$"]


@pytest.mark.parametrize("known", [True, False])
def test_eleven_wrong_passwords_lock_even_the_right_one(
    client: FlaskClient, session: Session, known: bool
) -> None:
    user, password = staff_account(session)
    email = user.email if known else "ghost@example.test"
    statuses = [
        staff_password_step(client, email, f"wrong-password-{n}").status_code for n in range(11)
    ]
    assert statuses[:9] == [401] * 9
    assert statuses[9:] == [429, 429]
    locked = staff_password_step(client, email, password)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    session.expire_all()
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.staff_locked")).first()
        is not None
    )


def test_lockout_is_per_account_and_ip_not_per_network(
    client: FlaskClient, session: Session, clock: Clock
) -> None:
    user, password = staff_account(session)
    colleague, colleague_password = staff_account(session)
    for n in range(10):
        staff_password_step(client, user.email, f"wrong-password-{n}", ip="198.51.100.7")
    assert staff_password_step(client, user.email, password, ip="198.51.100.7").status_code == 429
    # Same school NAT, another account: unaffected.
    ok = staff_password_step(client, colleague.email, colleague_password, ip="198.51.100.7")
    assert ok.status_code == 303
    # Same account from the office network: unaffected.
    assert staff_password_step(client, user.email, password, ip="203.0.113.9").status_code == 303


def test_lockout_delay_grows_and_expires(
    client: FlaskClient, session: Session, clock: Clock
) -> None:
    user, password = staff_account(session)
    for n in range(10):
        staff_password_step(client, user.email, f"wrong-password-{n}")
    first = int(staff_password_step(client, user.email, password).headers["Retry-After"])
    clock.advance(seconds=first + 1)
    assert staff_password_step(client, user.email, "still-wrong-password").status_code == 429
    second = int(staff_password_step(client, user.email, password).headers["Retry-After"])
    assert second > first
    clock.advance(seconds=second + 1)
    assert staff_password_step(client, user.email, password).status_code == 303


def test_totp_code_works_once(app: Flask, session: Session, clock: Clock) -> None:
    user, password = staff_account(session)
    code = totp_now(user, clock.now)
    first = app.test_client()
    assert staff_password_step(first, user.email, password).status_code == 303
    assert staff_code_step(first, code).status_code == 303
    second = app.test_client()
    assert staff_password_step(second, user.email, password).status_code == 303
    reused = staff_code_step(second, code)
    assert reused.status_code == 400
    assert second.get("/staff").status_code == 302
    # An older step is no good either once a later one was used.
    assert staff_code_step(second, totp_now(user, clock.now, steps=-1)).status_code == 400
    assert staff_code_step(second, totp_now(user, clock.now, steps=1)).status_code == 303


def test_six_bad_totp_codes_lock_the_second_step(
    client: FlaskClient, session: Session, clock: Clock
) -> None:
    user, password = staff_account(session)
    staff_password_step(client, user.email, password)
    good = totp_now(user, clock.now)
    bad = "000000" if good != "000000" else "111111"
    statuses = [staff_code_step(client, bad).status_code for _ in range(6)]
    assert statuses[:4] == [400] * 4
    assert statuses[4:] == [429, 429]
    locked = staff_code_step(client, good)
    assert locked.status_code == 429
    assert "Retry-After" in locked.headers
    assert client.get("/staff").status_code == 302


def test_second_step_without_a_password_step_goes_back(client: FlaskClient) -> None:
    response = client.get("/staff/signin/code")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/staff/signin")


def _link_token(html: str) -> str:
    match = re.search(r"/staff/set-password/([A-Za-z0-9_\-]+)", html)
    assert match
    return match.group(1)


def _enrol_secret(html: str) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7]+)</code>', html)
    assert match
    return match.group(1)


def test_new_staff_sets_password_enrols_totp_and_uses_a_recovery_code(
    app: Flask, session: Session, clock: Clock
) -> None:
    operator = make_staff(session, StaffRole.OPERATOR)
    school = make_school(session)
    user, issued = create_staff(
        session,
        operator,
        email="New.Admin@Example.test",
        display_name="New",
        role=StaffRole.SCHOOL_ADMIN,
        school_id=school.id,
        now=clock.now,
    )
    session.commit()
    assert user.email == "new.admin@example.test"
    client = app.test_client()
    path = f"/staff/set-password/{issued.token}"
    token = csrf_token(client, path)
    weak = client.post(
        path, data={"csrf_token": token, "password": "password1234", "confirm": "password1234"}
    )
    assert weak.status_code == 400
    strong = "moss-kettle-orbit-sparrow"
    response = client.post(path, data={"csrf_token": token, "password": strong, "confirm": strong})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/staff/enrol")
    # The link is spent.
    assert client.get(path).status_code == 400
    page = client.get("/staff/enrol").get_data(as_text=True)
    assert "<svg" in page
    secret = _enrol_secret(page)
    token = csrf_token(client, "/staff/enrol")
    done = client.post(
        "/staff/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).at(clock.now)}
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([A-Z0-9\-]+)</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/staff").status_code == 200
    # Later: sign in with a recovery code, once.
    other = app.test_client()
    assert staff_password_step(other, user.email, strong).status_code == 303
    assert staff_code_step(other, codes[0]).status_code == 303
    third = app.test_client()
    assert staff_password_step(third, user.email, strong).status_code == 303
    assert staff_code_step(third, codes[0]).status_code == 400


def test_expired_set_password_link_is_refused(app: Flask, session: Session, clock: Clock) -> None:
    operator = make_staff(session, StaffRole.OPERATOR)
    _, issued = create_staff(
        session,
        operator,
        email="late@example.test",
        display_name="Late",
        role=StaffRole.PHOTOGRAPHER,
        school_id=None,
        now=clock.now,
    )
    session.commit()
    clock.advance(hours=73)
    assert app.test_client().get(f"/staff/set-password/{issued.token}").status_code == 400


@pytest.mark.parametrize(
    "password",
    [
        "short-one",
        "password1234",
        "qwertyuiopasdf",
        "abcabcabcabc",
        "123456789012",
        "Password!2024",
        "aaaaaaaaaaaaaa",
        "photogate-rocks-1",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problems(password) != []


def test_a_passphrase_is_accepted_but_not_one_with_the_email() -> None:
    assert password_problems("moss-kettle-orbit-sparrow") == []
    assert password_problems("hanako.sato-kettle-orbit", email="hanako.sato@example.test") != []


def test_created_staff_has_no_usable_password_before_the_link(session: Session) -> None:
    operator = make_staff(session, StaffRole.OPERATOR)
    user, _ = create_staff(
        session,
        operator,
        email="fresh@example.test",
        display_name="Fresh",
        role=StaffRole.OPERATOR,
        school_id=None,
        now=__import__("app.db").db.utcnow(),
    )
    stored = session.scalar(select(StaffUser).where(StaffUser.id == user.id))
    assert stored is not None
    assert stored.password_hash is None


def test_school_admin_creates_an_admin_for_their_school_only(
    app: Flask, session: Session, clock: Clock
) -> None:
    school, other = make_school(session), make_school(session)
    admin, password = staff_account(session, StaffRole.SCHOOL_ADMIN, school)
    client = app.test_client()
    staff_sign_in(client, admin, password, clock.now)
    token = csrf_token(client, "/staff/accounts")
    created = client.post(
        "/staff/accounts",
        data={
            "csrf_token": token,
            "email": "second@example.test",
            "display_name": "Second",
            "role": "school_admin",
            "school_id": str(school.id),
        },
    )
    assert created.status_code == 200
    assert "/staff/set-password/" in created.get_data(as_text=True)
    for role, school_id in (("operator", school.id), ("school_admin", other.id)):
        refused = client.post(
            "/staff/accounts",
            data={
                "csrf_token": token,
                "email": f"{role}{school_id}@example.test",
                "display_name": "X",
                "role": role,
                "school_id": str(school_id),
            },
        )
        assert refused.status_code == 400
    session.expire_all()
    emails = set(session.scalars(select(StaffUser.email)))
    assert "second@example.test" in emails
    assert not {"operator" + str(school.id) + "@example.test"} & emails


def test_a_json_client_of_a_dead_set_password_link_gets_json(client: FlaskClient) -> None:
    response = client.get(
        "/staff/set-password/not-a-real-token",
        headers={"Accept": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == 400
    assert "expired or was already used" in body["message"]
