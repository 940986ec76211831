"""The steps of a running search, for the investigator's page: kept under the key the page
made, for that investigator only, in Redis or in process, and never at the search's cost."""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.investigate.progress import STEPS, ProgressBoard
from app.investigate.services import open_case, search_case
from app.web.context import runtime
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_school, make_staff
from tests.investigate.support import UNRELATED, real_photo
from tests.support.services import free_port
from tests.support.web import csrf_token, in_english

Signer = Callable[..., FlaskClient]
KEY = "k" * 20 + "0123456789abcdef"


def test_the_search_tells_each_step_in_order(app: Flask, session: Session) -> None:
    school = make_school(session)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    session.commit()
    held = runtime(app)
    case, image = open_case(
        session,
        held.blobs,
        admin,
        data=real_photo(UNRELATED),
        school_id=school.id,
        limits=held.limits,
        now=held.now(),
    )
    told: list[str] = []
    search_case(
        session,
        held.blobs,
        held.watermarks,
        admin,
        case,
        image=image,
        now=held.now(),
        progress=told.append,
    )
    assert told == list(STEPS)


def test_the_page_follows_its_own_search_and_nobody_else_sees_it(
    app: Flask, session: Session, login_as: Signer
) -> None:
    school = make_school(session)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    colleague = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    session.commit()
    client = in_english(login_as(admin))
    assert client.get(f"/investigate/progress/{KEY}").json == {
        "step": None,
        "number": 0,
        "of": 4,
        "label": "",
    }
    response = client.post(
        "/investigate/",
        data={
            "csrf_token": csrf_token(client, "/investigate/"),
            "suspect": (io.BytesIO(real_photo(UNRELATED)), "suspect.png"),
            "progress_key": KEY,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    answer = client.get(f"/investigate/progress/{KEY}")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json is not None
    assert answer.json["step"] == "done"
    assert answer.json["label"] == "Done: opening the verdict…"

    other = app.test_client()
    from tests.support.web import sign_in

    sign_in(app, other, session, colleague)
    assert other.get(f"/investigate/progress/{KEY}").json["step"] is None  # type: ignore[index]
    for bad in ("short", "x" * 65, "has.dots.in.it.and.more"):
        assert client.get(f"/investigate/progress/{bad}").status_code == 404


def test_a_key_that_is_not_one_the_page_makes_is_ignored(
    app: Flask, session: Session, login_as: Signer
) -> None:
    """A hostile progress_key neither fails the search nor is kept."""
    school = make_school(session)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    session.commit()
    client = login_as(admin)
    response = client.post(
        "/investigate/",
        data={
            "csrf_token": csrf_token(client, "/investigate/"),
            "suspect": (io.BytesIO(real_photo(UNRELATED)), "suspect.png"),
            "progress_key": "../../etc/passwd" + "x" * 20,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303


def test_the_board_keeps_steps_in_redis_and_in_process_when_redis_fails() -> None:
    if TEST_REDIS_URL:
        shared = ProgressBoard(Redis.from_url(TEST_REDIS_URL), prefix="photogate:test-progress:")
        shared.set(7, KEY, "candidates")
        # Another worker process, another board: the same Redis answers.
        elsewhere = ProgressBoard(Redis.from_url(TEST_REDIS_URL), prefix="photogate:test-progress:")
        assert elsewhere.get(7, KEY) == "candidates"
        assert elsewhere.get(8, KEY) is None
    gone = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    board = ProgressBoard(gone)
    board.set(7, KEY, "informed")  # no exception: progress never costs the search
    assert board.get(7, KEY) == "informed"
    assert board.get(8, KEY) is None
