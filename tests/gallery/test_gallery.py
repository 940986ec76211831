"""The family gallery: who sees which events and photos, and what a preview carries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.deliveries.models import Delivery, DeliveryKind
from app.deliveries.services import viewer_code
from app.photos.blobs import PREVIEW, read_derivative
from app.photos.models import Album, Photo, PhotoStatus
from app.web.context import runtime
from tests.factories import make_classroom, make_family, make_guardian, make_school, make_student
from tests.support.gallery import Gallery, decode, make_gallery, ready_photos
from tests.support.web import Clock

Signer = Callable[[Any], FlaskClient]


@pytest.fixture
def gallery(app: Flask, session: Session) -> Gallery:
    return make_gallery(app, session, photos=3)


def _paths(gallery: Gallery, photo: Photo) -> list[str]:
    event = gallery.event
    return [
        f"/events/{event.id}",
        f"/events/{event.id}/photos.json",
        f"/events/{event.id}/photos/{photo.id}",
        f"/gallery/photos/{photo.id}/thumbnail.jpg",
        f"/gallery/photos/{photo.id}/preview.jpg",
    ]


def _refusals(session: Session) -> int:
    session.expire_all()
    return int(
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "gallery.refused")
        )
        or 0
    )


def test_the_family_sees_its_event_and_photos(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(gallery.guardian)
    for path in _paths(gallery, gallery.photos[0]):
        assert client.get(path).status_code == 200, path
    home = client.get("/events").get_data(as_text=True)
    assert gallery.event.title in home
    assert _refusals(session) == 0


def _outsider_of_another_class(app: Flask, session: Session, gallery: Gallery) -> Any:
    other_class = make_classroom(session, gallery.school)
    family = make_family(session, gallery.school)
    make_student(session, family, other_class)
    return make_guardian(session, family)


def _outsider_of_another_school(app: Flask, session: Session, gallery: Gallery) -> Any:
    school = make_school(session)
    family = make_family(session, school)
    make_student(session, family, make_classroom(session, school))
    return make_guardian(session, family)


def _without_family(app: Flask, session: Session, gallery: Gallery) -> Any:
    return make_guardian(session, None)


@pytest.mark.parametrize(
    "who", [_outsider_of_another_class, _outsider_of_another_school, _without_family]
)
def test_other_families_get_404_and_the_refusal_is_audited(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session, who: Any
) -> None:
    outsider = who(app, session, gallery)
    session.commit()
    client = login_as(outsider)
    for path in _paths(gallery, gallery.photos[0]):
        assert client.get(path).status_code == 404, path
    if outsider.family_id is not None:
        assert _refusals(session) == len(_paths(gallery, gallery.photos[0]))


def _withhold(photo: Photo, now: dt.datetime) -> None:
    photo.withheld_at = now
    photo.withheld_reason = "consent"


def _hold(photo: Photo, now: dt.datetime) -> None:
    photo.withheld_at = now  # held for review: withheld without a reason


def _pending(photo: Photo, now: dt.datetime) -> None:
    photo.status = PhotoStatus.PENDING


def _failed(photo: Photo, now: dt.datetime) -> None:
    photo.status = PhotoStatus.FAILED


@pytest.mark.parametrize("change", [_withhold, _hold, _pending, _failed])
def test_a_photo_families_may_not_see_is_404(
    gallery: Gallery, login_as: Signer, session: Session, change: Any
) -> None:
    hidden, shown = gallery.photos[0], gallery.photos[1]
    change(hidden, dt.datetime.now(dt.UTC))
    session.commit()
    client = login_as(gallery.guardian)
    event = gallery.event
    for path in _paths(gallery, hidden)[2:]:
        assert client.get(path).status_code == 404, path
    grid = client.get(f"/events/{event.id}").get_data(as_text=True)
    assert f"/gallery/photos/{hidden.id}/thumbnail.jpg" not in grid
    assert f"/gallery/photos/{shown.id}/thumbnail.jpg" in grid


@pytest.mark.parametrize(
    ("starts", "ends"), [(1, 5), (-10, -1)], ids=["before the sale", "after the sale"]
)
def test_outside_the_sale_window_everything_is_404(
    gallery: Gallery, login_as: Signer, session: Session, starts: int, ends: int
) -> None:
    now = dt.datetime.now(dt.UTC)
    gallery.event.sale_starts_at = now + dt.timedelta(days=starts)
    gallery.event.sale_ends_at = now + dt.timedelta(days=ends)
    session.commit()
    client = login_as(gallery.guardian)
    for path in _paths(gallery, gallery.photos[0]):
        assert client.get(path).status_code == 404, path


def test_a_closed_sale_is_listed_plainly(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    now = dt.datetime.now(dt.UTC)
    gallery.event.sale_starts_at = now - dt.timedelta(days=20)
    gallery.event.sale_ends_at = now - dt.timedelta(days=1)
    session.commit()
    home = login_as(gallery.guardian).get("/events").get_data(as_text=True)
    assert gallery.event.title in home
    assert f'/events/{gallery.event.id}"' not in home  # listed, not a link


def test_staff_cannot_use_the_family_gallery(
    gallery: Gallery, login_as: Signer, session: Session
) -> None:
    assert gallery.admin is not None
    client = login_as(gallery.admin)
    for path in _paths(gallery, gallery.photos[0]):
        assert client.get(path).status_code == 403, path


# -- previews ------------------------------------------------------------------------------


def test_a_preview_carries_the_visible_overlay_and_the_viewers_mark(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[0]
    client = login_as(gallery.guardian)
    client.get("/events")  # gives the browser its device cookie
    response = client.get(
        f"/gallery/photos/{photo.id}/preview.jpg", headers={"User-Agent": "Mozilla/5.0 (iPhone)"}
    )
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"].startswith("private")
    shown = decode(response.data)
    clean = decode(read_derivative(runtime(app).blobs, photo, PREVIEW))
    assert shown.size == clean.size
    assert max(shown.size) <= 1600  # never more than the preview, never the master

    # The overlay: text with a dark edge in every part of the picture, changing pixels by
    # more than the invisible mark and the JPEG round trip ever do (those move one pixel
    # in several thousand by more than 12 levels; the text moves one in a hundred).
    difference = np.abs(np.asarray(shown, np.int16) - np.asarray(clean, np.int16)).max(axis=2)
    height, width = difference.shape
    for top in (0, height // 2):
        for left in (0, width // 2):
            quadrant = difference[top : top + height // 2, left : left + width // 2]
            assert (quadrant > 12).mean() > 0.005

    session.expire_all()
    delivery = session.scalars(select(Delivery)).one()
    assert delivery.kind is DeliveryKind.PREVIEW
    assert (delivery.guardian_id, delivery.family_id, delivery.photo_id) == (
        gallery.guardian.id,
        gallery.family.id,
        photo.id,
    )
    assert delivery.session_id is not None
    assert delivery.device_hash is not None
    assert len(delivery.device_hash) == 64
    assert delivery.browser == "Mobile Safari" or delivery.user_agent.startswith("Mozilla")
    assert delivery.key_id == runtime(app).watermarks.current_id

    # The invisible mark names this delivery, read blind.
    found = runtime(app).watermarks.keyring.extract(shown)
    assert found.payload == delivery.mark
    # And the school can tell whose code is on it.
    assert viewer_code(runtime(app).keys.codes, gallery.guardian.id) in _family_page(
        gallery, login_as
    )


def _family_page(gallery: Gallery, login_as: Signer) -> str:
    assert gallery.admin is not None
    client = login_as(gallery.admin)
    url = f"/schools/{gallery.school.id}/families/{gallery.family.id}"
    return client.get(url).get_data(as_text=True)


def test_one_preview_delivery_per_guardian_photo_and_day(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session, clock: Clock
) -> None:
    photo = gallery.photos[0]
    client = login_as(gallery.guardian)
    first = client.get(f"/gallery/photos/{photo.id}/preview.jpg").data
    again = client.get(f"/gallery/photos/{photo.id}/preview.jpg").data
    assert first == again  # the day's marked copy is kept, not made again
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 1

    second_guardian = make_guardian(session, gallery.family)
    session.commit()
    other = login_as(second_guardian).get(f"/gallery/photos/{photo.id}/preview.jpg").data
    assert other != first
    clock.advance(days=1)
    client = login_as(gallery.guardian)
    tomorrow = client.get(f"/gallery/photos/{photo.id}/preview.jpg").data
    assert tomorrow != first
    session.expire_all()
    marks = session.scalars(select(Delivery.mark)).all()
    assert len(marks) == len(set(marks)) == 3
    # Never sequential: the marks are spread over the 32-bit space.
    assert max(marks) - min(marks) > 2**16


def test_thumbnails_are_private_and_unmarked(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[0]
    response = login_as(gallery.guardian).get(f"/gallery/photos/{photo.id}/thumbnail.jpg")
    assert response.headers["Cache-Control"].startswith("private")
    assert max(decode(response.data).size) <= 400
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


# -- the event page ------------------------------------------------------------------------


@contextmanager
def _counting(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run meanwhile (the test application's sessions all use the one
    connection its transaction is on, so the listener goes on that connection's engine)."""
    statements: list[str] = []
    engine = runtime(app).database.sessionmaker.kw["bind"].engine

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:60])

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)


def test_the_event_page_costs_the_same_queries_for_few_and_many_photos_and_albums(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    client = login_as(gallery.guardian)
    path = f"/events/{gallery.event.id}"
    client.get(path)  # warm: the session touch and the device cookie
    with _counting(app) as few:
        assert client.get(path).status_code == 200
    photo = gallery.photos[0]
    for n in range(70):
        session.add(
            Photo(
                event_id=gallery.event.id,
                status=PhotoStatus.READY,
                original_sha256=f"{n:064x}",
                byte_size=1,
                wrapped_key=photo.wrapped_key,
            )
        )
    for n in range(4):  # and albums, each tied to a class of its own
        classroom = make_classroom(session, gallery.school)
        session.add(Album(event_id=gallery.event.id, name=f"A{n}", classroom_id=classroom.id))
    session.commit()
    session.expunge_all()  # the request must load what it shows, not find it at hand
    with _counting(app) as many:
        page = client.get(path).get_data(as_text=True)
    assert few
    assert len(many) == len(few)
    assert page.count("/thumbnail.jpg") == 60  # one page; the rest by keyset paging
    assert "after=" in page


def test_keyset_pages_and_filters(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    album = Album(event_id=gallery.event.id, name="Relay", classroom_id=gallery.classroom.id)
    session.add(album)
    session.flush()
    in_album = gallery.photos[1]
    in_album.album_id = album.id
    session.commit()
    client = login_as(gallery.guardian)
    event_id = gallery.event.id
    first = client.get(f"/events/{event_id}/photos.json?after=0").get_json()
    assert [p["id"] for p in first["photos"]] == [p.id for p in gallery.photos]
    rest = client.get(f"/events/{event_id}/photos.json?after={gallery.photos[0].id}").get_json()
    assert [p["id"] for p in rest["photos"]] == [p.id for p in gallery.photos[1:]]
    by_album = client.get(f"/events/{event_id}/photos.json?album={album.id}").get_json()
    assert [p["id"] for p in by_album["photos"]] == [in_album.id]
    by_class = client.get(f"/events/{event_id}/photos.json?class={gallery.classroom.id}").get_json()
    assert [p["id"] for p in by_class["photos"]] == [in_album.id]
    viewer = client.get(f"/events/{event_id}/photos/{gallery.photos[1].id}").get_data(as_text=True)
    assert f"/photos/{gallery.photos[0].id}" in viewer  # previous
    assert f"/photos/{gallery.photos[2].id}" in viewer  # next


def test_a_second_event_of_another_class_stays_out_of_sight(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    from tests.factories import make_event

    other_class = make_classroom(session, gallery.school)
    hidden_event = make_event(session, gallery.school, audience=[other_class])
    session.commit()
    hidden = ready_photos(app, session, hidden_event, 1)[0]
    client = login_as(gallery.guardian)
    assert hidden_event.title not in client.get("/events").get_data(as_text=True)
    # A photo of the hidden event, asked for through the visible event's address.
    assert client.get(f"/events/{gallery.event.id}/photos/{hidden.id}").status_code == 404
    assert client.get(f"/gallery/photos/{hidden.id}/preview.jpg").status_code == 404
