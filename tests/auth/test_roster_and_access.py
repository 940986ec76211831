"""Roster import with preview, letters, and a denial test for every protected route."""

from __future__ import annotations

import html as html_module
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.local_provider import LocalProvider, UserSpec
from app.auth.models import Guardian, StaffRole
from app.families.models import Invitation
from app.schools.models import Classroom, Family, School, Student
from tests.auth.support import csrf_token, family_sign_in, staff_account, staff_sign_in
from tests.factories import make_family, make_guardian, make_school, make_staff
from tests.support.web import Clock

GOOD_CSV = (
    "student,class,family_reference,contact\n"
    "Tanaka Haruto,3-A,F-1,tanaka@example.jp\n"
    "Tanaka Aoi,1-B,F-1,\n"
    "Emma Smith,3-A,F-2,+81 90 0000 0000\n"
)
BAD_CSV = (
    "student,class,family_reference,contact\n"
    "Tanaka Haruto,3-A,F-1,\n"
    ",3-A,F-2,\n"
    "Sora,threeA,F-3,\n"
    "Yui,2-C,,\n"
    "Tanaka Haruto,3-A,F-1,\n"
)


def _signed_in_admin(app: Flask, session: Session, clock: Clock, school: School) -> FlaskClient:
    admin, password = staff_account(session, StaffRole.SCHOOL_ADMIN, school)
    client = app.test_client()
    assert staff_sign_in(client, admin, password, clock.now).status_code == 303
    return client


def _preview(client: FlaskClient, school: School, csv_text: str) -> object:
    token = csrf_token(client, f"/schools/{school.id}/roster")
    return client.post(
        f"/schools/{school.id}/roster/preview",
        data={
            "csrf_token": token,
            "school_year": "2026",
            "roster": (io.BytesIO(csv_text.encode()), "roster.csv"),
        },
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_preview_writes_nothing_and_import_is_idempotent(
    app: Flask, session: Session, clock: Clock
) -> None:
    school = make_school(session)
    client = _signed_in_admin(app, session, clock, school)
    preview = _preview(client, school, GOOD_CSV)
    html = preview.get_data(as_text=True)  # type: ignore[attr-defined]
    assert preview.status_code == 200  # type: ignore[attr-defined]
    assert "2 new families and 3 new students" in html
    assert _count(session, Family) == 0
    token = csrf_token(client, f"/schools/{school.id}/roster")
    for _ in range(2):
        response = client.post(
            f"/schools/{school.id}/roster/import",
            data={"csrf_token": token, "school_year": "2026", "roster_text": GOOD_CSV},
        )
        assert response.status_code == 303
        session.expire_all()
        assert _count(session, Family) == 2
        assert _count(session, Student) == 3
        assert _count(session, Classroom) == 2
    family = session.scalar(select(Family).where(Family.reference == "F-1"))
    assert family is not None
    assert family.contact == "tanaka@example.jp"


def test_bad_rows_are_named_by_line_and_nothing_can_be_imported(
    app: Flask, session: Session, clock: Clock
) -> None:
    school = make_school(session)
    client = _signed_in_admin(app, session, clock, school)
    preview = _preview(client, school, BAD_CSV)
    html = preview.get_data(as_text=True)  # type: ignore[attr-defined]
    assert preview.status_code == 400  # type: ignore[attr-defined]
    for line in (3, 4, 5, 6):
        assert f"Line {line}:" in html
    assert "Line 2:" not in html
    assert "/roster/import" not in html
    token = csrf_token(client, f"/schools/{school.id}/roster")
    response = client.post(
        f"/schools/{school.id}/roster/import",
        data={"csrf_token": token, "school_year": "2026", "roster_text": BAD_CSV},
    )
    assert response.status_code == 400
    assert _count(session, Family) == 0


def test_letters_show_each_code_once_with_a_qr_code(
    app: Flask, session: Session, clock: Clock
) -> None:
    school = make_school(session)
    family = make_family(session, school)
    session.commit()
    client = _signed_in_admin(app, session, clock, school)
    token = csrf_token(client, f"/schools/{school.id}/roster")
    response = client.post(
        f"/schools/{school.id}/invitations",
        data={"csrf_token": token, "family_id": str(family.id)},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" in html
    assert "<script>" not in html
    code = re.search(r'<p class="letter-code">([A-Z0-9\-]+)</p>', html)
    assert code is not None
    assert code.group(1) not in client.get(f"/schools/{school.id}/roster").get_data(as_text=True)
    assert _count(session, Invitation) == 1


# -- denials -----------------------------------------------------------------------------

SCHOOL_GETS = [
    "/schools/{school}/roster",
    "/schools/{school}/families/{family}",
]
SCHOOL_POSTS = [
    "/schools/{school}/roster/preview",
    "/schools/{school}/roster/import",
    "/schools/{school}/invitations",
    "/schools/{school}/invitations/{invitation}/revoke",
    "/schools/{school}/families/{family}/guardians/{guardian}/remove",
    "/schools/{school}/families/{family}/guardians/{guardian}/revoke-sessions",
]
STAFF_GETS = ["/staff", "/staff/accounts", "/staff/audit", "/schools"]
STAFF_POSTS = [
    "/staff/accounts/{staff}/reset",
    "/staff/accounts/{staff}/deactivate",
    "/staff/accounts/{staff}/activate",
    "/staff/accounts/{staff}/revoke-sessions",
]
FAMILY_GETS = ["/family", "/join", "/account/sessions"]
FAMILY_POSTS = [
    "/family/invitations",
    "/family/invitations/{invitation}/revoke",
    "/family/guardians/{guardian}/remove",
    "/signout/everywhere",
    "/account/sessions/1/end",
]


@pytest.fixture
def world(app: Flask, session: Session) -> dict[str, int]:
    school = make_school(session)
    family = make_family(session, school)
    guardian = make_guardian(session, family)
    target = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    invitation = Invitation(
        school_id=school.id,
        family_id=family.id,
        kind="roster",
        code_hash="x" * 64,
        expires_at=__import__("app.db").db.utcnow(),
    )
    session.add(invitation)
    session.commit()
    return {
        "school": school.id,
        "family": family.id,
        "guardian": guardian.id,
        "staff": target.id,
        "invitation": invitation.id,
    }


def _urls(templates: list[str], world: dict[str, int]) -> list[str]:
    return [template.format(**world) for template in templates]


def _post(client: FlaskClient, url: str) -> int:
    token = csrf_token(client, "/")
    return client.post(url, data={"csrf_token": token}).status_code


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, world: dict[str, int]) -> None:
    for url in _urls(SCHOOL_GETS + STAFF_GETS, world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/staff/signin?next="), url
    for url in _urls(SCHOOL_POSTS + STAFF_POSTS, world):
        assert _post(client, url) == 302, url
    for url in _urls(FAMILY_GETS, world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/signin?next="), url
    for url in _urls(FAMILY_POSTS, world):
        assert _post(client, url) == 302, url


def test_photographers_are_forbidden_school_pages(
    app: Flask, session: Session, clock: Clock, world: dict[str, int]
) -> None:
    user, password = staff_account(session, StaffRole.PHOTOGRAPHER)
    client = app.test_client()
    staff_sign_in(client, user, password, clock.now)
    assert client.get("/staff").status_code == 200
    for url in [*_urls(SCHOOL_GETS, world), "/staff/accounts", "/staff/audit", "/schools"]:
        assert client.get(url).status_code == 403, url
    for url in _urls(SCHOOL_POSTS + STAFF_POSTS, world):
        assert _post(client, url) == 403, url
    # Family pages are for guardians only.
    for url in _urls(["/family", "/join"], world):
        assert client.get(url).status_code == 403, url


def test_other_schools_administrator_gets_404(
    app: Flask, session: Session, clock: Clock, world: dict[str, int]
) -> None:
    client = _signed_in_admin(app, session, clock, make_school(session))
    for url in _urls(SCHOOL_GETS, world):
        assert client.get(url).status_code == 404, url
    for url in _urls(SCHOOL_POSTS + STAFF_POSTS, world):
        assert _post(client, url) == 404, url
    # Their own school, someone else's family: 404 as well.
    own = session.scalars(select(School).order_by(School.id.desc())).first()
    assert own is not None
    assert client.get(f"/schools/{own.id}/families/{world['family']}").status_code == 404


def test_school_administrator_cannot_see_the_audit_log_or_manage_operators(
    app: Flask, session: Session, clock: Clock, world: dict[str, int]
) -> None:
    school = session.get(School, world["school"])
    assert school is not None
    client = _signed_in_admin(app, session, clock, school)
    assert client.get("/staff/audit").status_code == 403
    operator = make_staff(session, StaffRole.OPERATOR)
    session.commit()
    assert _post(client, f"/staff/accounts/{operator.id}/reset") == 404
    assert client.get(f"/schools/{world['school']}/roster").status_code == 200


def test_guardians_are_forbidden_staff_pages(
    client: FlaskClient,
    world: dict[str, int],
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    family_sign_in(client, oidc_users["alice"])
    for url in _urls(SCHOOL_GETS + STAFF_GETS, world):
        assert client.get(url).status_code == 403, url
    for url in _urls(SCHOOL_POSTS + STAFF_POSTS, world):
        assert _post(client, url) == 403, url


def test_operator_reaches_every_school(
    app: Flask, session: Session, clock: Clock, world: dict[str, int]
) -> None:
    user, password = staff_account(session, StaffRole.OPERATOR)
    client = app.test_client()
    staff_sign_in(client, user, password, clock.now)
    for url in [*_urls(SCHOOL_GETS, world), "/staff/accounts", "/staff/audit", "/schools"]:
        assert client.get(url).status_code == 200, url


def test_school_revokes_a_guardians_sessions(
    app: Flask,
    session: Session,
    clock: Clock,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    school = make_school(session)
    family = make_family(session, school)
    session.commit()
    parent = app.test_client()
    family_sign_in(parent, oidc_users["carol"])
    guardian = session.scalar(select(Guardian).where(Guardian.subject == oidc_users["carol"].sub))
    assert guardian is not None
    guardian.family_id = family.id
    session.commit()
    assert parent.get("/family").status_code == 200
    admin = _signed_in_admin(app, session, clock, school)
    url = f"/schools/{school.id}/families/{family.id}/guardians/{guardian.id}/revoke-sessions"
    assert _post(admin, url) == 303
    assert parent.get("/family").status_code == 302


def test_a_shift_jis_roster_survives_preview_and_import(
    app: Flask, session: Session, clock: Clock
) -> None:
    """Excel in Japan saves CSV as Shift_JIS: the names must arrive as written, not as
    replacement characters, after the preview page hands the text to the import."""
    school = make_school(session)
    client = _signed_in_admin(app, session, clock, school)
    roster = (
        "student,class,family_reference,contact\n"
        "田中 陽翔,3-A,F-1,tanaka@example.jp\n"
        "髙橋 結衣,3-B,F-2,\n"
    ).encode("cp932")
    token = csrf_token(client, f"/schools/{school.id}/roster")
    preview = client.post(
        f"/schools/{school.id}/roster/preview",
        data={
            "csrf_token": token,
            "school_year": "2026",
            "roster": (io.BytesIO(roster), "roster.csv"),
        },
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    carried = re.search(r'<textarea name="roster_text" hidden>(.*?)</textarea>', html, re.S)
    assert carried is not None
    response = client.post(
        f"/schools/{school.id}/roster/import",
        data={
            "csrf_token": token,
            "school_year": "2026",
            "roster_text": html_module.unescape(carried.group(1)),
        },
    )
    assert response.status_code == 303
    session.expire_all()
    names = set(session.scalars(select(Student.name)))
    assert names == {"田中 陽翔", "髙橋 結衣"}
