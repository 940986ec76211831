"""The investigation console end to end: a leaked copy in, the delivery (or the photo and
its receivers, or "no match") out, and nobody outside the school learns of the case."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import StaffRole, StaffUser
from app.deliveries.models import Delivery, DeliveryKind
from app.investigate.models import Investigation, Verdict
from app.photos.blobs import MASTER, read_derivative
from app.web.context import runtime
from tests.factories import make_school, make_staff
from tests.investigate.support import (
    UNRELATED,
    decode,
    download_delivery,
    event_gallery,
    investigate,
    jpeg,
    phone_screenshot,
    real_photo,
    resized,
)
from tests.support.gallery import Gallery
from tests.support.web import csrf_token, sign_in

Signer = Callable[..., FlaskClient]
_CASE_URL = re.compile(r"/investigate/cases/(\d+)$")


@pytest.fixture
def gallery(app: Flask, session: Session) -> Gallery:
    return event_gallery(app, session)


def _admin(gallery: Gallery) -> StaffUser:
    assert gallery.admin is not None
    return gallery.admin


def _case(session: Session, response_location: str) -> Investigation:
    match = _CASE_URL.search(response_location)
    assert match, response_location
    session.expire_all()
    case = session.get(Investigation, int(match.group(1)))
    assert case is not None
    return case


def _open(client: FlaskClient, session: Session, data: bytes) -> tuple[Investigation, str]:
    response = investigate(client, data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    case = _case(session, location)
    page = client.get(location)
    assert page.status_code == 200
    return case, page.get_data(as_text=True)


def test_a_phone_screenshot_of_a_preview_names_the_viewers_delivery(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[1]
    viewer = login_as(gallery.guardian)
    preview = viewer.get(f"/gallery/photos/{photo.id}/preview.jpg")
    assert preview.status_code == 200
    delivery = session.scalars(select(Delivery).where(Delivery.photo_id == photo.id)).one()

    case, page = _open(login_as(_admin(gallery)), session, phone_screenshot(decode(preview.data)))

    assert case.verdict is Verdict.DELIVERY
    assert case.delivery_id == delivery.id
    assert case.photo_id == photo.id
    assert 'data-verdict="delivery"' in page
    assert gallery.guardian.email in page
    assert gallery.family.display_name in page
    assert gallery.classroom.name in page


def test_a_recompressed_resized_crop_of_a_download_names_the_delivery(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[0]
    marked = decode(download_delivery(app, session, gallery, photo))
    # Re-encoded at q70, resized to 1280 px, cropped to a face-sized part of the picture.
    small = resized(decode(jpeg(marked, 70)), 1280)
    crop = small.crop((500, 200, 1012, 712))
    download = session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.DOWNLOAD)).one()

    case, page = _open(login_as(_admin(gallery)), session, jpeg(crop, 85))

    assert case.verdict is Verdict.DELIVERY
    assert case.delivery_id == download.id
    assert "203.0.113.7" in page


def test_the_named_guardian_can_be_signed_out_everywhere_from_the_verdict(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[0]
    viewer = app.test_client()  # the guardian's own browser, beside the administrator's
    sign_in(app, viewer, session, gallery.guardian)
    assert viewer.get("/events").status_code == 200
    leaked = decode(download_delivery(app, session, gallery, photo))
    admin = login_as(_admin(gallery))
    case, _page = _open(admin, session, jpeg(resized(leaked, 1280), 80))
    url = f"/investigate/cases/{case.id}"

    response = admin.post(f"{url}/revoke-sessions", data={"csrf_token": csrf_token(admin, url)})

    assert response.status_code == 303
    assert viewer.get("/events").status_code in (302, 401)  # signed out
    session.expire_all()
    revoked = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "investigate.sessions_revoked")
    ).one()
    assert revoked.details["guardian_id"] == gallery.guardian.id


def test_signing_out_needs_a_named_guardian(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    admin = login_as(_admin(gallery))
    case, _page = _open(admin, session, real_photo(UNRELATED))
    url = f"/investigate/cases/{case.id}"

    response = admin.post(f"{url}/revoke-sessions", data={"csrf_token": csrf_token(admin, url)})

    assert response.status_code == 409


def test_a_download_saved_again_by_a_phone_as_heic_names_the_delivery(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = gallery.photos[2]
    marked = decode(download_delivery(app, session, gallery, photo))
    out = io.BytesIO()
    resized(marked, 1280).save(out, "HEIF", quality=80)
    assert out.getvalue()[4:12] == b"ftypheic"

    case, _page = _open(login_as(_admin(gallery)), session, out.getvalue())

    assert case.suspect_format == "HEIF"
    assert case.verdict is Verdict.DELIVERY
    download = session.scalars(select(Delivery).where(Delivery.photo_id == photo.id)).one()
    assert case.delivery_id == download.id


def test_an_unmarked_copy_of_an_event_photo_lists_the_photo_and_everyone_who_received_it(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[2]
    login_as(gallery.guardian).get(f"/gallery/photos/{photo.id}/preview.jpg")
    download_delivery(app, session, gallery, photo)
    clean = decode(read_derivative(runtime(app).blobs, photo, MASTER))

    case, page = _open(login_as(_admin(gallery)), session, jpeg(resized(clean, 1000), 80))

    assert case.verdict is Verdict.PHOTO
    assert case.photo_id == photo.id
    assert case.delivery_id is None
    assert case.results["blind"]["payload_found"] is False
    assert 'data-verdict="photo"' in page
    receivers = page.split('id="receivers"', 1)[1].split("</table>", 1)[0]
    assert receivers.count("<tr") == 3  # the header, the preview and the download
    assert gallery.guardian.email in receivers


def test_an_unrelated_photo_is_no_match_said_plainly(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    case, page = _open(login_as(_admin(gallery)), session, real_photo(UNRELATED))

    assert case.verdict is Verdict.NO_MATCH
    assert case.photo_id is None
    assert case.delivery_id is None
    assert case.results["candidates"] == []
    assert 'data-verdict="no_match"' in page


def test_another_schools_administrator_gets_404_for_the_case_and_its_images(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    own = login_as(_admin(gallery))
    case, _ = _open(own, session, real_photo(UNRELATED))
    assert f"/investigate/cases/{case.id}" in own.get("/investigate/").get_data(as_text=True)
    other = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)
    session.commit()
    client = login_as(other)
    for path in ("", "/suspect", "/suspect.jpg", "/source.jpg", "/report", "/report.pdf"):
        assert client.get(f"/investigate/cases/{case.id}{path}").status_code == 404
    client.application.config["WTF_CSRF_ENABLED"] = False
    for action in (
        "notes",
        "close",
        "reopen",
        "revoke-sessions",
        "suspend-downloads",
        "lift-downloads",
        "escalate",
        "withdraw-escalation",
    ):
        response = client.post(f"/investigate/cases/{case.id}/{action}", data={"notes": "x"})
        assert response.status_code == 404
    listing = client.get("/investigate/").get_data(as_text=True)
    assert f"/investigate/cases/{case.id}" not in listing


def test_the_case_keeps_the_suspect_encrypted_with_its_sha256(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    data = real_photo(UNRELATED)
    client = login_as(_admin(gallery))
    case, page = _open(client, session, data)
    assert case.suspect_sha256 == hashlib.sha256(data).hexdigest()
    assert case.suspect_sha256 in page
    assert client.get(f"/investigate/cases/{case.id}/suspect").data == data
    shown = client.get(f"/investigate/cases/{case.id}/suspect.jpg")
    assert shown.mimetype == "image/jpeg"
    assert shown.headers["Cache-Control"] == "no-store"
    assert decode(shown.data).size == (case.suspect_width, case.suspect_height)
    assert f"/investigate/cases/{case.id}/suspect.jpg" in page
    stored = [p for p in runtime(app).settings.blob_dir.rglob("*") if p.is_file()]
    assert stored
    assert all(data[:64] not in p.read_bytes() for p in stored)


def test_a_file_that_is_not_an_image_is_a_400_and_opens_no_case(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(_admin(gallery))
    for junk in (b"", b"%PDF-1.4 not an image", real_photo("mei_Issue 122.jpg")):
        response = investigate(client, junk)
        assert response.status_code == 400
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Investigation)) == 0


def test_notes_and_closing_are_audited(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(_admin(gallery))
    case, _ = _open(client, session, real_photo(UNRELATED))
    url = f"/investigate/cases/{case.id}"
    token = csrf_token(client, url)
    assert (
        client.post(
            f"{url}/notes", data={"csrf_token": token, "notes": "Reported by a parent"}
        ).status_code
        == 303
    )
    assert client.post(f"{url}/close", data={"csrf_token": token}).status_code == 303
    session.expire_all()
    assert case.notes == "Reported by a parent"
    assert case.status.value == "closed"
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {
        "investigate.case_opened",
        "investigate.notes_saved",
        "investigate.case_closed",
    } <= actions


def test_an_operator_searches_every_school_or_one_and_bad_choices_are_a_400(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    operator = make_staff(session, StaffRole.OPERATOR)
    session.commit()
    client = login_as(operator)
    token = csrf_token(client, "/investigate/")

    def upload(school: str) -> int:
        data: dict[str, object] = {"csrf_token": token, "school_id": school}
        data["suspect"] = (io.BytesIO(real_photo(UNRELATED)), "s.png")
        response = client.post("/investigate/", data=data, content_type="multipart/form-data")
        return response.status_code

    assert upload("") == 303
    assert upload(str(gallery.school.id)) == 303
    assert upload("abc") == 400
    assert upload("99999999") == 400
    session.expire_all()
    scopes = sorted((c.school_id or 0) for c in session.scalars(select(Investigation)))
    assert scopes == [0, gallery.school.id]


def test_missing_files_and_overlong_notes_are_a_400(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(_admin(gallery))
    token = csrf_token(client, "/investigate/")
    no_file = client.post("/investigate/", data={"csrf_token": token})
    assert no_file.status_code == 400
    case, _page = _open(client, session, real_photo(UNRELATED))
    url = f"/investigate/cases/{case.id}"
    long_notes = client.post(
        f"{url}/notes", data={"csrf_token": csrf_token(client, url), "notes": "x" * 10_001}
    )
    assert long_notes.status_code == 400
    session.expire_all()
    assert case.notes == ""


def test_searches_are_rate_limited(gallery: Gallery, login_as: Signer) -> None:
    client = login_as(_admin(gallery))
    token = csrf_token(client, "/investigate/")
    codes = [
        client.post("/investigate/", data={"csrf_token": token}).status_code for _ in range(21)
    ]
    assert codes[:20] == [400] * 20  # no file: refused, but counted
    assert codes[20] == 429
