"""An investigation searches the investigator's school only: another school's marks and
photos are neither named nor hinted at; operators search every school."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser
from app.auth.policies import Actor
from app.db import utcnow
from app.errors import Forbidden, NotFound
from app.investigate.models import Verdict
from app.investigate.services import case_for, open_case, search_case
from app.web.context import runtime
from tests.factories import make_staff
from tests.investigate.support import (
    decode,
    download_delivery,
    event_gallery,
    jpeg,
    real_photos,
    resized,
)
from tests.support.gallery import Gallery, make_gallery


def _admin(gallery: Gallery) -> StaffUser:
    assert gallery.admin is not None
    return gallery.admin


def test_a_mark_of_another_schools_delivery_names_nothing_to_this_school(
    app: Flask, session: Session
) -> None:
    ours = event_gallery(app, session)
    theirs = make_gallery(app, session, photos=0)
    (photo,) = real_photos(app, session, theirs.event, ("mei_Canon PowerShot A560.jpg",))
    leaked = jpeg(resized(decode(download_delivery(app, session, theirs, photo)), 1280), 80)
    held = runtime(app)

    def search_as(actor: Actor, school_id: int | None) -> Verdict | None:
        case, image = open_case(
            session,
            held.blobs,
            actor,
            data=leaked,
            school_id=school_id,
            limits=held.limits,
            now=utcnow(),
        )
        search_case(
            session,
            held.blobs,
            held.watermarks,
            actor,
            case,
            image=image,
            now=utcnow(),
        )
        if case.verdict is not Verdict.DELIVERY:
            assert case.delivery_id is None
            assert case.photo_id is None
        return case.verdict

    assert search_as(_admin(ours), ours.school.id) is Verdict.NO_MATCH
    operator = make_staff(session, StaffRole.OPERATOR)
    assert search_as(operator, None) is Verdict.DELIVERY


def test_a_school_administrator_cannot_open_a_case_for_another_school(
    app: Flask, session: Session
) -> None:
    ours = event_gallery(app, session)
    theirs = make_gallery(app, session, photos=0)
    held = runtime(app)
    with pytest.raises(Forbidden):
        open_case(
            session,
            held.blobs,
            _admin(ours),
            data=b"",
            school_id=theirs.school.id,
            limits=held.limits,
            now=utcnow(),
        )
    with pytest.raises(Forbidden):
        open_case(
            session,
            held.blobs,
            _admin(ours),
            data=b"",
            school_id=None,
            limits=held.limits,
            now=utcnow(),
        )
    with pytest.raises(NotFound):
        case_for(session, _admin(ours), 10_000)
