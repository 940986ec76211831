"""Plain factory functions: each adds an object with sensible defaults, flushes, returns it."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffRole, StaffUser
from app.db import utcnow
from app.photos.models import Event, Photo, PhotoStatus
from app.schools.models import Classroom, Enrolment, Family, School, Student

_counter = itertools.count(1)


def _next() -> int:
    return next(_counter)


def make_school(session: Session, **overrides: Any) -> School:
    n = _next()
    values: dict[str, Any] = {"name": f"School {n}", "slug": f"school-{n}"}
    school = School(**(values | overrides))
    session.add(school)
    session.flush()
    return school


def make_classroom(session: Session, school: School | None = None, **overrides: Any) -> Classroom:
    school = school or make_school(session)
    n = _next()
    values: dict[str, Any] = {"school": school, "school_year": 2026, "grade": "1", "name": f"C{n}"}
    classroom = Classroom(**(values | overrides))
    session.add(classroom)
    session.flush()
    return classroom


def make_family(session: Session, school: School | None = None, **overrides: Any) -> Family:
    school = school or make_school(session)
    n = _next()
    values: dict[str, Any] = {
        "school": school,
        "reference": f"F-{n}",
        "display_name": f"Family {n}",
    }
    family = Family(**(values | overrides))
    session.add(family)
    session.flush()
    return family


def make_student(
    session: Session,
    family: Family | None = None,
    classroom: Classroom | None = None,
    **overrides: Any,
) -> Student:
    """A student of ``family``, enrolled in ``classroom`` when given (same school)."""
    family = family or make_family(session)
    values: dict[str, Any] = {"school_id": family.school_id, "family": family, "name": "Pupil"}
    student = Student(**(values | overrides))
    session.add(student)
    if classroom is not None:
        session.add(Enrolment(student=student, classroom=classroom))
    session.flush()
    return student


def make_guardian(session: Session, family: Family | None = None, **overrides: Any) -> Guardian:
    n = _next()
    values: dict[str, Any] = {
        "issuer": "https://idp.example.test",
        "subject": f"subject-{n}",
        "family": family,
        "display_name": f"Guardian {n}",
        "session_version": 1,
    }
    guardian = Guardian(**(values | overrides))
    session.add(guardian)
    session.flush()
    return guardian


def make_staff(
    session: Session, role: StaffRole = StaffRole.PHOTOGRAPHER, **overrides: Any
) -> StaffUser:
    n = _next()
    values: dict[str, Any] = {
        "email": f"staff{n}@example.test",
        "display_name": f"Staff {n}",
        "role": role,
        "session_version": 1,
    }
    user = StaffUser(**(values | overrides))
    session.add(user)
    session.flush()
    return user


def make_event(session: Session, school: School | None = None, **overrides: Any) -> Event:
    school = school or make_school(session)
    now = utcnow()
    values: dict[str, Any] = {
        "school": school,
        "title": f"Event {_next()}",
        "event_date": now.date(),
        "sale_starts_at": now - dt.timedelta(days=1),
        "sale_ends_at": now + dt.timedelta(days=30),
    }
    event = Event(**(values | overrides))
    session.add(event)
    session.flush()
    return event


def make_photo(session: Session, event: Event | None = None, **overrides: Any) -> Photo:
    event = event or make_event(session)
    n = _next()
    values: dict[str, Any] = {
        "event": event,
        "status": PhotoStatus.PENDING,
        "width": 640,
        "height": 480,
        "original_sha256": hashlib.sha256(f"photo-{n}".encode()).hexdigest(),
        "byte_size": 1000,
    }
    photo = Photo(**(values | overrides))
    session.add(photo)
    session.flush()
    return photo
