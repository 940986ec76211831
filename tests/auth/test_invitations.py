"""Claim-once invitations: letters, claiming, brute force, second guardians, revocation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.local_provider import LocalProvider, UserSpec
from app.auth.models import Guardian, StaffRole
from app.auth.policies import SYSTEM
from app.auth.tokens import CODE_ALPHABET
from app.db import utcnow
from app.families.models import Invitation, InvitationKind
from app.families.services import issue_roster_invitations
from app.schools.models import Family
from app.web.context import runtime
from tests.auth.support import csrf_token, family_sign_in, staff_account, staff_sign_in
from tests.factories import make_classroom, make_family, make_school, make_student
from tests.support.web import Clock


def _letter(app: Flask, session: Session, family: Family) -> str:
    school = family.school
    issued = issue_roster_invitations(
        session,
        SYSTEM,
        school,
        [family.id],
        key=runtime(app).keys.codes,
        now=utcnow(),
    )
    session.commit()
    return issued[0].code


def _claim(client: FlaskClient, code: str) -> object:
    token = csrf_token(client, "/join")
    return client.post("/join", data={"csrf_token": token, "code": code})


def _guardian(session: Session, user: UserSpec) -> Guardian:
    session.expire_all()
    guardian = session.scalar(select(Guardian).where(Guardian.subject == user.sub))
    assert guardian is not None
    return guardian


@pytest.fixture
def family(session: Session) -> Family:
    school = make_school(session)
    family = make_family(session, school)
    make_student(session, family, make_classroom(session, school), name="Hana")
    session.commit()
    return family


def test_codes_are_long_unambiguous_grouped_and_stored_hashed(
    app: Flask, session: Session, family: Family
) -> None:
    code = _letter(app, session, family)
    assert re.fullmatch(rf"[{CODE_ALPHABET}]{{4}}(-[{CODE_ALPHABET}]{{4}}){{2}}", code)
    invitation = session.scalars(select(Invitation)).one()
    assert code not in invitation.code_hash
    assert code.replace("-", "") not in invitation.code_hash
    assert (invitation.expires_at - invitation.created_at).days == 30


def test_guardian_claims_a_code_once(
    client: FlaskClient,
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    code = _letter(app, session, family)
    family_sign_in(client, oidc_users["alice"])
    assert "Join your family" in client.get("/family", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    response = _claim(client, code.lower().replace("-", " "))
    assert response.status_code == 303
    assert _guardian(session, oidc_users["alice"]).family_id == family.id
    assert "Hana" in client.get("/family").get_data(as_text=True)
    # The same code for someone else: used.
    other = app.test_client()
    family_sign_in(other, oidc_users["bob"])
    used = _claim(other, code)
    assert used.status_code == 400
    assert _guardian(session, oidc_users["bob"]).family_id is None


def test_a_second_code_is_refused_for_a_bound_guardian(
    client: FlaskClient,
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    other_school_family = make_family(session, make_school(session))
    session.commit()
    family_sign_in(client, oidc_users["alice"])
    assert _claim(client, _letter(app, session, family)).status_code == 303
    second = _claim(client, _letter(app, session, other_school_family))
    assert second.status_code == 409
    assert _guardian(session, oidc_users["alice"]).family_id == family.id


def test_expired_and_withdrawn_codes_are_refused(
    client: FlaskClient,
    app: Flask,
    session: Session,
    family: Family,
    clock: Clock,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    old = _letter(app, session, family)
    new = _letter(app, session, family)  # a new letter withdraws the old code
    family_sign_in(client, oidc_users["alice"])
    assert _claim(client, old).status_code == 400
    # 30 days pass (moved on the invitation: the provider's tokens follow the real clock).
    for invitation in session.scalars(select(Invitation)):
        invitation.expires_at = clock.now - dt.timedelta(seconds=1)
    session.commit()
    expired = _claim(client, new)
    assert expired.status_code == 400
    assert _guardian(session, oidc_users["alice"]).family_id is None


def test_invitation_code_brute_force_is_locked(
    client: FlaskClient,
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    code = _letter(app, session, family)
    family_sign_in(client, oidc_users["alice"])
    statuses = [_claim(client, f"AAAA-AAAA-AAA{n}").status_code for n in range(6)]  # type: ignore[attr-defined]
    assert statuses[:4] == [400] * 4
    assert statuses[4:] == [429, 429]
    locked = _claim(client, code)
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "Retry-After" in locked.headers  # type: ignore[attr-defined]
    assert _guardian(session, oidc_users["alice"]).family_id is None


def test_claim_needs_csrf_and_a_signed_in_guardian(
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    anonymous = app.test_client()
    response = anonymous.get("/join?code=ABCD")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/signin?next=")
    client = app.test_client()
    family_sign_in(client, oidc_users["alice"])
    assert client.post("/join", data={"code": _letter(app, session, family)}).status_code == 400


def test_second_guardian_joins_by_link_and_can_be_removed(
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    first, second, third = app.test_client(), app.test_client(), app.test_client()
    family_sign_in(first, oidc_users["alice"])
    _claim(first, _letter(app, session, family))
    page = first.post("/family/invitations", data={"csrf_token": csrf_token(first, "/family")})
    assert page.status_code == 200
    link = re.search(r"/join\?code=([A-Z0-9\-]+)", page.get_data(as_text=True))
    assert link is not None
    family_sign_in(second, oidc_users["bob"])
    assert second.get(f"/join?code={link.group(1)}").status_code == 200
    assert _claim(second, link.group(1)).status_code == 303
    bob = _guardian(session, oidc_users["bob"])
    assert bob.family_id == family.id
    # Two guardians is the most: no third link.
    assert (
        first.post(
            "/family/invitations", data={"csrf_token": csrf_token(first, "/family")}
        ).status_code
        == 409
    )
    # The first guardian removes the second; the second's sessions end.
    response = first.post(
        f"/family/guardians/{bob.id}/remove", data={"csrf_token": csrf_token(first, "/family")}
    )
    assert response.status_code == 303
    assert _guardian(session, oidc_users["bob"]).family_id is None
    assert second.get("/family").status_code == 302
    del third


def test_open_guardian_link_can_be_withdrawn_by_the_family_and_the_school(
    app: Flask,
    session: Session,
    family: Family,
    clock: Clock,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    first = app.test_client()
    family_sign_in(first, oidc_users["alice"])
    _claim(first, _letter(app, session, family))
    first.post("/family/invitations", data={"csrf_token": csrf_token(first, "/family")})
    invitation = session.scalars(
        select(Invitation).where(Invitation.kind == InvitationKind.GUARDIAN)
    ).one()
    assert "An invitation link is open" in first.get(
        "/family", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    response = first.post(
        f"/family/invitations/{invitation.id}/revoke",
        data={"csrf_token": csrf_token(first, "/family")},
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Invitation, invitation.id).revoked_at is not None  # type: ignore[union-attr]
    # And the school sees and can withdraw a new one.
    first.post("/family/invitations", data={"csrf_token": csrf_token(first, "/family")})
    newest = session.scalars(
        select(Invitation).where(
            Invitation.kind == InvitationKind.GUARDIAN, Invitation.revoked_at.is_(None)
        )
    ).one()
    admin, password = staff_account(session, StaffRole.SCHOOL_ADMIN, family.school)
    staff = app.test_client()
    staff_sign_in(staff, admin, password, clock.now)
    detail = f"/schools/{family.school_id}/families/{family.id}"
    assert "Guardian link" in staff.get(detail, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    response = staff.post(
        f"/schools/{family.school_id}/invitations/{newest.id}/revoke",
        data={"csrf_token": csrf_token(staff, detail)},
    )
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Invitation, newest.id).revoked_at is not None  # type: ignore[union-attr]


def test_a_guardian_cannot_touch_another_familys_invitation(
    app: Flask,
    session: Session,
    family: Family,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    other = make_family(session, family.school)
    session.commit()
    first, second = app.test_client(), app.test_client()
    family_sign_in(first, oidc_users["alice"])
    _claim(first, _letter(app, session, family))
    first.post("/family/invitations", data={"csrf_token": csrf_token(first, "/family")})
    invitation = session.scalars(
        select(Invitation).where(Invitation.kind == InvitationKind.GUARDIAN)
    ).one()
    family_sign_in(second, oidc_users["bob"])
    _claim(second, _letter(app, session, other))
    response = second.post(
        f"/family/invitations/{invitation.id}/revoke",
        data={"csrf_token": csrf_token(second, "/family")},
    )
    assert response.status_code == 404
    alice = _guardian(session, oidc_users["alice"])
    response = second.post(
        f"/family/guardians/{alice.id}/remove", data={"csrf_token": csrf_token(second, "/family")}
    )
    assert response.status_code == 404
    assert _guardian(session, oidc_users["alice"]).family_id == family.id
