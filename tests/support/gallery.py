"""A school whose family can see an event, with photos made by the real pipeline."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffRole, StaffUser
from app.auth.policies import SYSTEM
from app.db import utcnow
from app.demo import generate_demo_photo
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.processing import process_photo
from app.schools.models import Classroom, Family, School
from app.studio.services import IncomingFile, upload_photos
from app.web.context import runtime
from tests.factories import (
    make_classroom,
    make_event,
    make_family,
    make_guardian,
    make_school,
    make_staff,
    make_student,
)


def photo_jpeg(seed: int, size: tuple[int, int] = (1800, 1200)) -> bytes:
    """A photograph-like landscape (the demo's drawing), different for every seed."""
    out = io.BytesIO()
    generate_demo_photo(seed, size).save(out, "JPEG", quality=92)
    return out.getvalue()


def ready_photos(
    app: Flask, session: Session, event: Event, count: int, *, size: tuple[int, int] = (1800, 1200)
) -> list[Photo]:
    """``count`` photos through the real upload and processing path, all READY."""
    held = runtime(app)
    outcomes = upload_photos(
        session,
        held.blobs,
        SYSTEM,
        event,
        [IncomingFile(f"p{n}.jpg", photo_jpeg(event.id * 1000 + n, size)) for n in range(count)],
        album_id=None,
        limits=held.limits,
        now=utcnow(),
    )
    session.commit()
    photos = [outcome.photo for outcome in outcomes if outcome.photo is not None]
    # The jobs run in sessions of their own; this one must hold no transaction meanwhile
    # (on a SQLite file a writer waits for the other to finish).
    for photo in photos:
        process_photo(held.database.session_scope, held.blobs, photo.id, held.limits, utcnow)
    for photo in photos:
        session.refresh(photo)
        assert photo.status is PhotoStatus.READY
    session.commit()
    return photos


@dataclass
class Gallery:
    """One school, one class, a family with a child in it and a guardian, and an event on
    sale for that class; plus what a test needs to try the boundaries."""

    school: School
    classroom: Classroom
    family: Family
    guardian: Guardian
    event: Event
    photos: list[Photo] = field(default_factory=list)
    admin: StaffUser | None = None


def make_gallery(app: Flask, session: Session, *, photos: int = 3) -> Gallery:
    school = make_school(session)
    classroom = make_classroom(session, school)
    family = make_family(session, school)
    make_student(session, family, classroom)
    guardian = make_guardian(session, family)
    now = utcnow()
    event = make_event(
        session,
        school,
        audience=[classroom],
        sale_starts_at=now - dt.timedelta(days=1),
        sale_ends_at=now + dt.timedelta(days=10),
    )
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    session.commit()
    made = ready_photos(app, session, event, photos) if photos else []
    return Gallery(school, classroom, family, guardian, event, made, admin)


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
