"""The school's controls: withheld photos never reach families; an event on hold takes in
new uploads withheld until they are reviewed."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.db import utcnow
from app.errors import Forbidden, Invalid
from app.photos.models import Photo, PhotoStatus
from app.photos.queries import visible_photos
from app.studio.services import (
    end_event_hold,
    hold_event,
    release_photo,
    release_reviewed,
    withhold_photo,
)
from tests.factories import make_event, make_photo, make_school, make_staff
from tests.studio.conftest import Studio
from tests.studio.support import api_upload, photo_bytes


def _upload(client: FlaskClient, session: Session, studio: Studio, seed: int) -> Photo:
    response = api_upload(client, studio.token, studio.event.id, photo_bytes(seed=seed))
    assert response.status_code == 201
    photo = session.get(Photo, response.get_json()["photo"]["id"])
    assert photo is not None
    session.refresh(photo)
    return photo


def test_visible_photos_are_the_ready_released_ones(session: Session) -> None:
    event = make_event(session)
    ready = make_photo(session, event, status=PhotoStatus.READY)
    make_photo(session, event, status=PhotoStatus.PENDING)
    make_photo(session, event, status=PhotoStatus.FAILED)
    make_photo(session, event, status=PhotoStatus.PURGED)
    make_photo(session, event, status=PhotoStatus.READY, withheld_at=utcnow(), withheld_reason="x")
    make_photo(session, make_event(session), status=PhotoStatus.READY)

    assert visible_photos(session, event) == [ready]


def test_withheld_photo_is_hidden_until_released(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    photo = _upload(client, session, studio, 1)
    assert visible_photos(session, studio.event) == [photo]

    withhold_photo(session, admin, photo, "Swimming lesson", now=utcnow())

    assert visible_photos(session, studio.event) == []
    assert photo.withheld_reason == "Swimming lesson"
    assert photo.withheld_by_id == admin.id
    assert release_photo(session, admin, photo)
    assert visible_photos(session, studio.event) == [photo]
    assert not release_photo(session, admin, photo)


def test_withholding_needs_a_reason(session: Session) -> None:
    event = make_event(session)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=event.school_id)
    photo = make_photo(session, event, status=PhotoStatus.READY)
    with pytest.raises(Invalid):
        withhold_photo(session, admin, photo, "   ", now=utcnow())


@pytest.mark.parametrize("who", ["photographer", "other school's admin"])
def test_only_the_school_or_an_operator_withholds(
    session: Session, studio: Studio, who: str
) -> None:
    photo = make_photo(session, studio.event, status=PhotoStatus.READY)
    actor = (
        studio.photographer
        if who == "photographer"
        else make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=make_school(session).id)
    )
    with pytest.raises(Forbidden):
        withhold_photo(session, actor, photo, "reason", now=utcnow())
    with pytest.raises(Forbidden):
        hold_event(session, actor, studio.event, now=utcnow())
    operator = make_staff(session, StaffRole.OPERATOR)
    withhold_photo(session, operator, photo, "reason", now=utcnow())
    assert photo.is_withheld


def test_event_on_hold_withholds_old_and_new_photos_until_reviewed(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    before = _upload(client, session, studio, 1)

    assert hold_event(session, admin, studio.event, now=utcnow()) == 1
    session.commit()
    during = _upload(client, session, studio, 2)

    assert before.is_withheld
    assert during.is_withheld
    assert during.status is PhotoStatus.READY
    assert visible_photos(session, studio.event) == []

    # The review: one photo withheld on purpose, the rest released together.
    withhold_photo(session, admin, during, "Changing room in the background", now=utcnow())
    assert release_reviewed(session, admin, studio.event) == 1
    assert visible_photos(session, studio.event) == [before]
    assert during.is_withheld

    end_event_hold(session, admin, studio.event)
    session.commit()
    after = _upload(client, session, studio, 3)
    assert not after.is_withheld
    assert visible_photos(session, studio.event) == [before, after]
