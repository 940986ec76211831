"""The studio pages: who reaches what, uploads from the page, the school's controls."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import StaffRole
from app.photos.models import Photo, PhotoStatus
from app.photos.queries import visible_photos
from app.studio.models import ApiToken
from tests.factories import make_event, make_family, make_guardian, make_school, make_staff
from tests.studio.conftest import Studio, studio_for
from tests.studio.support import api_get, api_upload, photo_bytes
from tests.support.web import sign_in


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser that prefers English (the site's default language is Japanese)."""
    english = app.test_client()
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return english


def _csrf(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _upload_from_page(
    client: FlaskClient, event_id: int, files: list[tuple[bytes, str]], *, json: bool = False
) -> object:
    path = f"/studio/events/{event_id}"
    token = _csrf(client, path)
    return client.post(
        f"{path}/photos",
        data={"csrf_token": token, "file": [(io.BytesIO(data), name) for data, name in files]},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"} if json else {"Accept": "text/html"},
    )


def _audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_anonymous_visitor_is_sent_to_staff_sign_in(client: FlaskClient, studio: Studio) -> None:
    response = client.get(f"/studio/events/{studio.event.id}")
    assert response.status_code == 302
    assert "/staff/signin" in response.headers["Location"]


def test_guardian_cannot_reach_the_studio(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    guardian = make_guardian(session, make_family(session, studio.event.school))
    sign_in(app, client, session, guardian)
    for path in (
        "/studio/",
        f"/studio/events/{studio.event.id}",
        "/studio/tokens",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/studio/events/{studio.event.id}/photos").status_code in (400, 403)


def test_photographer_sees_only_assigned_events(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    other_school = studio_for(session, name="B")
    same_school = make_event(session, studio.event.school, title="Not assigned")
    sign_in(app, client, session, studio.photographer)

    index = client.get("/studio/").get_data(as_text=True)

    assert studio.event.title in index
    assert other_school.event.title not in index
    assert "Not assigned" not in index
    assert client.get(f"/studio/events/{studio.event.id}").status_code == 200
    assert client.get(f"/studio/events/{other_school.event.id}").status_code == 404
    assert client.get(f"/studio/events/{same_school.id}").status_code == 404


def test_upload_from_the_page_to_an_unassigned_event_is_refused(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    other = studio_for(session, name="B")
    sign_in(app, client, session, studio.photographer)
    token = _csrf(client, f"/studio/events/{studio.event.id}")

    response = client.post(
        f"/studio/events/{other.event.id}/photos",
        data={"csrf_token": token, "file": (io.BytesIO(photo_bytes()), "a.jpg")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 404
    assert session.scalar(select(Photo)) is None


def test_school_admin_sees_the_event_but_cannot_upload(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    sign_in(app, client, session, admin)
    response = _upload_from_page(client, studio.event.id, [(photo_bytes(), "a.jpg")])
    assert response.status_code == 403  # type: ignore[attr-defined]


def test_upload_without_csrf_token_is_refused(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    sign_in(app, client, session, studio.photographer)
    response = client.post(
        f"/studio/events/{studio.event.id}/photos",
        data={"file": (io.BytesIO(photo_bytes()), "a.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert session.scalar(select(Photo)) is None


def test_page_upload_of_several_files_reports_each(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    sign_in(app, client, session, studio.photographer)

    response = _upload_from_page(
        client,
        studio.event.id,
        [
            (photo_bytes(seed=1), "one.jpg"),
            (b"<svg></svg>", "two.jpg"),
            (photo_bytes(seed=1), "three.jpg"),
        ],
    )

    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "one.jpg" in html
    assert "it looks like SVG" in html
    assert "This photo is already in this event." in html
    assert len(visible_photos(session, studio.event)) == 1


def test_script_upload_gets_json_per_file(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    sign_in(app, client, session, studio.photographer)

    accepted = _upload_from_page(client, studio.event.id, [(photo_bytes(), "a.jpg")], json=True)
    rejected = _upload_from_page(client, studio.event.id, [(b"GIF89a....", "b.jpg")], json=True)

    assert accepted.status_code == 201  # type: ignore[attr-defined]
    assert accepted.get_json()["photo"]["status"] == "ready"  # type: ignore[attr-defined]
    assert rejected.status_code == 422  # type: ignore[attr-defined]
    assert "GIF" in rejected.get_json()["reason"]  # type: ignore[attr-defined]


def test_thumbnail_is_served_to_staff_who_know_the_event_only(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    sign_in(app, client, session, studio.photographer)
    image = client.get(f"/studio/photos/{photo_id}/thumbnail.jpg")
    assert image.status_code == 200
    assert image.mimetype == "image/jpeg"
    assert image.headers["Cache-Control"] == "no-store"
    assert client.get(f"/studio/photos/{photo_id}/original.jpg").status_code == 404

    other = studio_for(session, name="B")
    other_client = app.test_client()
    sign_in(app, other_client, session, other.photographer)
    assert other_client.get(f"/studio/photos/{photo_id}/thumbnail.jpg").status_code == 404


def test_photographer_creates_and_revokes_a_token(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    sign_in(app, client, session, studio.photographer)
    token = _csrf(client, "/studio/tokens")

    created = client.post("/studio/tokens", data={"csrf_token": token, "name": "Studio PC"})

    html = created.get_data(as_text=True)
    shown = re.search(r"data-token>(pgs_[^<]+)<", html)
    assert shown is not None
    new_token = shown.group(1)
    assert api_get(client, new_token, "/api/studio/events").status_code == 200
    assert new_token not in client.get("/studio/tokens").get_data(as_text=True)
    record = session.scalar(select(ApiToken).where(ApiToken.name == "Studio PC"))
    assert record is not None

    revoked = client.post(f"/studio/tokens/{record.id}/revoke", data={"csrf_token": token})

    assert revoked.status_code == 303
    assert api_get(client, new_token, "/api/studio/events").status_code == 401
    assert "studio.token_created" in _audit_actions(session)
    assert "studio.token_revoked" in _audit_actions(session)


def test_a_photographer_cannot_revoke_another_s_token(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    other = studio_for(session, name="B")
    record = session.scalar(select(ApiToken).where(ApiToken.staff_user_id == other.photographer.id))
    assert record is not None
    sign_in(app, client, session, studio.photographer)
    token = _csrf(client, "/studio/tokens")
    response = client.post(f"/studio/tokens/{record.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    assert api_get(client, other.token, "/api/studio/events").status_code == 200


def test_school_admin_withholds_holds_and_releases(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    sign_in(app, client, session, admin)
    page = f"/studio/events/{studio.event.id}"
    token = _csrf(client, page)

    withheld = client.post(
        f"/studio/photos/{photo_id}/withhold", data={"csrf_token": token, "reason": "Swimming"}
    )
    assert withheld.status_code == 303
    assert visible_photos(session, studio.event) == []
    assert "Swimming" in client.get(page).get_data(as_text=True)

    client.post(f"/studio/photos/{photo_id}/release", data={"csrf_token": token})
    assert [p.id for p in visible_photos(session, studio.event)] == [photo_id]

    client.post(f"/studio/events/{studio.event.id}/hold", data={"csrf_token": token})
    session.refresh(studio.event)
    assert studio.event.hold_new_uploads
    assert visible_photos(session, studio.event) == []
    client.post(f"/studio/events/{studio.event.id}/release-reviewed", data={"csrf_token": token})
    assert [p.id for p in visible_photos(session, studio.event)] == [photo_id]

    client.post(
        f"/studio/events/{studio.event.id}/retention", data={"csrf_token": token, "days": "30"}
    )
    session.refresh(studio.event)
    assert studio.event.retention_days == 30
    actions = _audit_actions(session)
    for action in (
        "studio.photo_withheld",
        "studio.photo_released",
        "studio.event_held",
        "studio.event_reviewed",
        "studio.retention_set",
    ):
        assert action in actions


@pytest.mark.parametrize("role", ["photographer", "other school's admin"])
def test_school_controls_are_refused_to_others(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, role: str
) -> None:
    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    if role == "photographer":
        actor, expected = studio.photographer, 403
    else:
        actor = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)
        expected = 404
    sign_in(app, client, session, actor)
    token = _csrf(client, "/studio/")

    responses = [
        client.post(
            f"/studio/photos/{photo_id}/withhold", data={"csrf_token": token, "reason": "x"}
        ),
        client.post(f"/studio/events/{studio.event.id}/hold", data={"csrf_token": token}),
        client.post(
            f"/studio/events/{studio.event.id}/retention", data={"csrf_token": token, "days": "5"}
        ),
        client.post(
            f"/studio/events/{studio.event.id}/photographers",
            data={"csrf_token": token, "photographer_id": str(actor.id)},
        ),
    ]

    assert [r.status_code for r in responses] == [expected] * 4
    photo = session.get(Photo, photo_id)
    assert photo is not None
    session.refresh(photo)
    assert not photo.is_withheld
    assert photo.status is PhotoStatus.READY


def test_school_admin_assigns_and_removes_a_photographer(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    school = make_school(session)
    event = make_event(session, school)
    photographer = make_staff(session, StaffRole.PHOTOGRAPHER)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    sign_in(app, client, session, admin)
    token = _csrf(client, f"/studio/events/{event.id}")

    client.post(
        f"/studio/events/{event.id}/photographers",
        data={"csrf_token": token, "photographer_id": str(photographer.id)},
    )
    session.refresh(event)
    assert [p.id for p in event.photographers] == [photographer.id]

    client.post(
        f"/studio/events/{event.id}/photographers/{photographer.id}/remove",
        data={"csrf_token": token},
    )
    session.refresh(event)
    assert event.photographers == []
    assert "studio.photographer_assigned" in _audit_actions(session)
    assert "studio.photographer_unassigned" in _audit_actions(session)


def test_failed_photo_is_retried_from_the_page(
    app: Flask,
    client: FlaskClient,
    session: Session,
    studio: Studio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.photos import processing

    monkeypatch.setattr(processing, "perceptual_hash", lambda _image: 1 / 0)
    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    monkeypatch.undo()
    sign_in(app, client, session, studio.photographer)
    page = client.get(f"/studio/events/{studio.event.id}?status=failed").get_data(as_text=True)
    assert "Processing failed on our side. Please retry." in page
    token = _csrf(client, f"/studio/events/{studio.event.id}")

    response = client.post(f"/studio/photos/{photo_id}/retry", data={"csrf_token": token})

    assert response.status_code == 303
    photo = session.get(Photo, photo_id)
    assert photo is not None
    session.refresh(photo)
    assert photo.status is PhotoStatus.READY


def test_reasons_and_pages_are_in_japanese(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    response = client.post(
        f"/api/studio/events/{studio.event.id}/photos",
        data={"file": (io.BytesIO(b"<svg/>"), "a.jpg")},
        headers={"Authorization": f"Bearer {studio.token}", "Accept-Language": "ja"},
    )
    assert response.status_code == 422
    assert response.get_json()["reason"].startswith(
        "このファイルは受け付けられる写真ではありません(SVG のようです)。"
    )
    sign_in(app, client, session, studio.photographer)
    page = client.get(
        f"/studio/events/{studio.event.id}", headers={"Accept-Language": "ja"}
    ).get_data(as_text=True)
    assert "写真をアップロード" in page
    assert "ここに写真をドラッグするか、選んでください" in page


def test_damaged_thumbnail_is_refused_with_a_clear_error_and_audited(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    from app.photos.blobs import THUMBNAIL
    from app.storage import blob_name
    from app.web.context import runtime

    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    photo = session.get(Photo, photo_id)
    assert photo is not None
    assert photo.wrapped_key is not None
    blobs = runtime(app).blobs
    name = blob_name(blobs.open_key(photo.wrapped_key), photo.id, THUMBNAIL)
    path = runtime(app).settings.blob_dir / name[:2] / name[2:4] / name
    path.write_bytes(path.read_bytes()[:-20] + b"\x00" * 20)
    sign_in(app, client, session, studio.photographer)

    response = client.get(f"/studio/photos/{photo_id}/thumbnail.jpg")

    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert b"\xff\xd8" not in response.data
    assert "failed its integrity check" in response.get_data(as_text=True)
    assert "studio.blob_damaged" in _audit_actions(session)


def test_every_event_route_is_404_for_a_photographer_of_another_event(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    photo_id = api_upload(client, studio.token, studio.event.id, photo_bytes()).get_json()["photo"][
        "id"
    ]
    outsider = studio_for(session, name="B")
    sign_in(app, client, session, outsider.photographer)
    token = _csrf(client, "/studio/")
    event = f"/studio/events/{studio.event.id}"
    photo = f"/studio/photos/{photo_id}"
    gets = [event, f"{photo}/thumbnail.jpg", f"{photo}/preview.jpg", photo]
    posts = [
        f"{event}/photos",
        f"{event}/albums",
        f"{event}/hold",
        f"{event}/end-hold",
        f"{event}/release-reviewed",
        f"{event}/retention",
        f"{event}/photographers",
        f"{event}/photographers/{studio.photographer.id}/remove",
        f"{photo}/retry",
        f"{photo}/withhold",
        f"{photo}/release",
    ]

    assert {path: client.get(path).status_code for path in gets} == dict.fromkeys(gets, 404)
    answers = {
        path: client.post(path, data={"csrf_token": token, "name": "x", "reason": "x"}).status_code
        for path in posts
    }
    assert answers == dict.fromkeys(posts, 404)
    api = f"/api/studio/events/{studio.event.id}/photos"
    assert api_get(client, outsider.token, api).status_code == 404


def test_school_admin_has_no_upload_tokens(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    sign_in(app, client, session, admin)
    assert client.get("/studio/tokens").status_code == 403
    assert client.get(f"/studio/events/{studio.event.id}").status_code == 200
