"""The studio API: tokens act for one photographer, on that photographer's events only."""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.auth.tokens import sha256_hex
from app.db import utcnow
from app.photos.models import Photo
from app.studio.models import ApiToken
from app.studio.services import authenticate_api_token, create_api_token, revoke_api_token
from tests.factories import make_event, make_staff
from tests.studio.conftest import Studio, studio_for
from tests.studio.support import api_get, api_post_json, api_upload, photo_bytes


def _photos(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Photo)) or 0)


def test_token_is_stored_hashed_and_shown_once(session: Session, studio: Studio) -> None:
    record = session.scalar(
        select(ApiToken).where(ApiToken.staff_user_id == studio.photographer.id)
    )
    assert record is not None
    assert record.token_hash == sha256_hex(studio.token)
    assert studio.token not in (record.token_hash, record.prefix, record.name)
    assert studio.token.startswith(record.prefix)
    assert len(studio.token) > 40


def test_request_without_a_token_is_401(client: FlaskClient, studio: Studio) -> None:
    response = client.get("/api/studio/events")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["status"] == 401


def test_unknown_token_is_401(client: FlaskClient, studio: Studio) -> None:
    response = api_get(client, "pgs_" + "x" * 43, "/api/studio/events")
    assert response.status_code == 401


def test_session_cookie_is_not_accepted_by_the_api(client: FlaskClient, studio: Studio) -> None:
    response = client.get("/api/studio/events", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401


def test_revoked_token_is_refused(client: FlaskClient, session: Session, studio: Studio) -> None:
    assert api_get(client, studio.token, "/api/studio/events").status_code == 200
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(studio.token)))
    assert record is not None
    assert revoke_api_token(session, record, now=utcnow())
    session.commit()

    assert api_get(client, studio.token, "/api/studio/events").status_code == 401
    response = api_upload(client, studio.token, studio.event.id, photo_bytes())
    assert response.status_code == 401
    assert _photos(session) == 0


def test_token_of_a_disabled_account_is_refused(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    studio.photographer.is_active = False
    session.commit()
    assert api_get(client, studio.token, "/api/studio/events").status_code == 401
    assert authenticate_api_token(session, studio.token, now=utcnow()) is None


def test_events_lists_only_assigned_events(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    make_event(session, studio.event.school)  # same school, not assigned
    session.commit()
    body = api_get(client, studio.token, "/api/studio/events").get_json()
    assert [event["id"] for event in body["events"]] == [studio.event.id]


def test_token_of_photographer_a_cannot_touch_b_s_events(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    other = studio_for(session, name="B")
    upload = api_upload(client, other.token, other.event.id, photo_bytes(seed=1))
    assert upload.status_code == 201
    b_photo = upload.get_json()["photo"]["id"]
    before = _photos(session)

    assert api_get(client, studio.token, f"/api/studio/events/{other.event.id}").status_code == 404
    response = api_upload(client, studio.token, other.event.id, photo_bytes(seed=2))
    assert response.status_code == 404
    assert api_get(client, studio.token, f"/api/studio/photos/{b_photo}").status_code == 404
    retry = api_post_json(client, studio.token, f"/api/studio/photos/{b_photo}/retry", {})
    assert retry.status_code == 404
    lookup = api_post_json(
        client, studio.token, f"/api/studio/events/{other.event.id}/lookup", {"sha256": []}
    )
    assert lookup.status_code == 404
    album = api_post_json(
        client, studio.token, f"/api/studio/events/{other.event.id}/albums", {"name": "x"}
    )
    assert album.status_code == 404
    assert _photos(session) == before


def test_unassigned_event_of_the_same_school_is_404(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    unassigned = make_event(session, studio.event.school)
    session.commit()
    response = api_upload(client, studio.token, unassigned.id, photo_bytes())
    assert response.status_code == 404
    assert _photos(session) == 0


def test_unassigning_stops_the_token_at_once(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    studio.event.photographers.remove(studio.photographer)
    session.commit()
    response = api_upload(client, studio.token, studio.event.id, photo_bytes())
    assert response.status_code == 404


def test_lookup_answers_which_files_the_event_already_has(
    client: FlaskClient, studio: Studio
) -> None:
    stored = photo_bytes(seed=1)
    assert api_upload(client, studio.token, studio.event.id, stored).status_code == 201
    known = hashlib.sha256(stored).hexdigest()
    unknown = hashlib.sha256(b"not uploaded").hexdigest()

    response = api_post_json(
        client,
        studio.token,
        f"/api/studio/events/{studio.event.id}/lookup",
        {"sha256": [known, unknown]},
    )

    assert response.status_code == 200
    assert set(response.get_json()["known"]) == {known}
    assert response.get_json()["known"][known]["status"] == "ready"


def test_lookup_refuses_malformed_hashes(client: FlaskClient, studio: Studio) -> None:
    path = f"/api/studio/events/{studio.event.id}/lookup"
    assert api_post_json(client, studio.token, path, {"sha256": ["../etc"]}).status_code == 400
    assert api_post_json(client, studio.token, path, {"sha256": "abc"}).status_code == 400
    assert api_post_json(client, studio.token, path, ["x"]).status_code == 400


def test_albums_are_created_and_photos_uploaded_into_them(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    created = api_post_json(
        client,
        studio.token,
        f"/api/studio/events/{studio.event.id}/albums",
        {"name": " Relay  race "},
    )
    assert created.status_code == 201
    album_id = created.get_json()["id"]
    assert created.get_json()["name"] == "Relay race"
    again = api_post_json(
        client, studio.token, f"/api/studio/events/{studio.event.id}/albums", {"name": "Relay race"}
    )
    assert again.status_code == 409

    response = api_upload(
        client, studio.token, studio.event.id, photo_bytes(), album_id=str(album_id)
    )

    assert response.status_code == 201
    assert response.get_json()["photo"]["album_id"] == album_id
    event = api_get(client, studio.token, f"/api/studio/events/{studio.event.id}").get_json()
    assert event["albums"] == [{"id": album_id, "name": "Relay race"}]
    assert event["photos"]["ready"] == 1


def test_album_of_another_event_is_refused(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    other = studio_for(session, name="B")
    album = api_post_json(
        client, other.token, f"/api/studio/events/{other.event.id}/albums", {"name": "B's"}
    ).get_json()["id"]

    response = api_upload(client, studio.token, studio.event.id, photo_bytes(), album_id=str(album))

    assert response.status_code == 400
    assert _photos(session) == 0


def test_photos_are_listed_page_by_page(client: FlaskClient, studio: Studio) -> None:
    for seed in range(3):
        assert (
            api_upload(client, studio.token, studio.event.id, photo_bytes(seed=seed)).status_code
            == 201
        )
    body = api_get(client, studio.token, f"/api/studio/events/{studio.event.id}/photos").get_json()
    assert [photo["status"] for photo in body["photos"]] == ["ready"] * 3
    first = body["photos"][0]["id"]
    rest = api_get(
        client, studio.token, f"/api/studio/events/{studio.event.id}/photos?after={first}"
    ).get_json()
    assert len(rest["photos"]) == 2
    assert rest["next_after"] is None


def test_only_photographers_can_have_tokens(session: Session) -> None:
    from app.errors import Forbidden

    admin = make_staff(session, StaffRole.SCHOOL_ADMIN)
    try:
        create_api_token(session, admin, "laptop", now=utcnow())
    except Forbidden:
        return
    raise AssertionError("a school administrator was given an upload token")
