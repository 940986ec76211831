from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.photos.models import PhotoStatus
from app.schools.models import Family, School
from tests.factories import (
    make_classroom,
    make_event,
    make_family,
    make_guardian,
    make_photo,
    make_school,
    make_staff,
    make_student,
)

PROBE = "rollback-probe"


def _probe_rollback(session: Session) -> None:
    # Whichever of the two tests runs second fails if the first one's commit survived.
    assert session.scalar(select(School).where(School.slug == PROBE)) is None
    make_school(session, slug=PROBE)
    session.commit()
    assert session.scalar(select(School).where(School.slug == PROBE)) is not None


def test_committed_rows_are_rolled_back_after_a_test(session: Session) -> None:
    _probe_rollback(session)


def test_committed_rows_are_rolled_back_after_a_test_again(session: Session) -> None:
    _probe_rollback(session)


def test_timestamps_come_back_timezone_aware_utc(session: Session) -> None:
    event = make_event(session)
    session.expire_all()
    loaded = session.get(type(event), event.id)
    assert loaded is not None
    assert loaded.sale_starts_at.tzinfo is not None
    assert loaded.sale_starts_at.utcoffset() == dt.timedelta(0)
    assert loaded.created_at.tzinfo is not None


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        make_event(session, sale_starts_at=dt.datetime(2026, 1, 1))  # noqa: DTZ001


def test_other_timezones_are_stored_as_utc(session: Session) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    event = make_event(session, sale_starts_at=dt.datetime(2026, 4, 1, 9, 0, tzinfo=tokyo))
    session.expire_all()
    loaded = session.get(type(event), event.id)
    assert loaded is not None
    assert loaded.sale_starts_at == dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC)


def test_guardian_identity_is_unique_per_issuer_and_subject(session: Session) -> None:
    make_guardian(session, issuer="https://a.test", subject="42")
    make_guardian(session, issuer="https://b.test", subject="42")
    with pytest.raises(IntegrityError):
        make_guardian(session, issuer="https://a.test", subject="42")


def test_staff_email_is_unique(session: Session) -> None:
    make_staff(session, email="same@example.test")
    with pytest.raises(IntegrityError):
        make_staff(session, email="same@example.test", role=StaffRole.OPERATOR)


def test_family_reference_is_unique_within_a_school_only(session: Session) -> None:
    first, second = make_school(session), make_school(session)
    make_family(session, first, reference="F-1")
    make_family(session, second, reference="F-1")
    with pytest.raises(IntegrityError):
        make_family(session, first, reference="F-1")


def test_same_photo_content_twice_in_one_event_is_refused(session: Session) -> None:
    event = make_event(session)
    make_photo(session, event, original_sha256="a" * 64)
    with pytest.raises(IntegrityError):
        make_photo(session, event, original_sha256="a" * 64)


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(Family(school_id=999_999, reference="orphan", display_name="Orphan"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_unknown_photo_status_is_refused_by_the_database(session: Session) -> None:
    photo = make_photo(session)
    with pytest.raises(IntegrityError):
        session.execute(
            text("UPDATE photos SET status = 'published' WHERE id = :id"), {"id": photo.id}
        )


def test_roster_relationships(session: Session) -> None:
    school = make_school(session)
    classroom = make_classroom(session, school)
    family = make_family(session, school)
    student = make_student(session, family, classroom)
    event = make_event(session, school, audience=[classroom])
    assert [e.classroom for e in student.enrolments] == [classroom]
    assert event.audience == [classroom]
    assert family.students == [student]
    assert make_photo(session, event).status is PhotoStatus.PENDING
