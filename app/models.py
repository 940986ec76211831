"""Import every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

from app.auth.models import Guardian, StaffRole, StaffUser
from app.db import Base
from app.gallery.models import Event, Photo, PhotoStatus, event_classrooms, event_photographers
from app.schools.models import Classroom, Enrolment, Family, School, Student

__all__ = [
    "Base",
    "Classroom",
    "Enrolment",
    "Event",
    "Family",
    "Guardian",
    "Photo",
    "PhotoStatus",
    "School",
    "StaffRole",
    "StaffUser",
    "Student",
    "event_classrooms",
    "event_photographers",
]
