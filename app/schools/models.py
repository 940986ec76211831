"""The tenancy model: a school owns classrooms, students and families."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, utcnow

if TYPE_CHECKING:
    from app.auth.models import Guardian


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    #: Who sells the school's photos, as receipts name it (the school or its photo studio),
    #: and its qualified-invoice registration number ("T" + 13 digits). Without a number a
    #: receipt says plainly that it is not a qualified invoice.
    seller_name: Mapped[str] = mapped_column(String(200), default="")
    invoice_registration: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    classrooms: Mapped[list[Classroom]] = relationship(
        back_populates="school", order_by="Classroom.school_year, Classroom.grade"
    )
    families: Mapped[list[Family]] = relationship(back_populates="school")


class Classroom(Base):
    __tablename__ = "classrooms"
    __table_args__ = (UniqueConstraint("school_id", "school_year", "grade", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    school_year: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))

    school: Mapped[School] = relationship(back_populates="classrooms")
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="classroom")

    @property
    def label(self) -> str:
        return f"{self.grade}-{self.name} ({self.school_year})"


class Family(Base):
    """A household on the school's roster; guardians join it by invitation only."""

    __tablename__ = "families"
    __table_args__ = (UniqueConstraint("school_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    # The school's own family reference from its roster export (not a secret).
    reference: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    # How the school reaches the family (from the roster); shown on invitation letters.
    contact: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship(back_populates="families")
    students: Mapped[list[Student]] = relationship(back_populates="family")
    guardians: Mapped[list[Guardian]] = relationship(back_populates="family")


class Student(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("families.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship()
    family: Mapped[Family] = relationship(back_populates="students")
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="student")


class Enrolment(Base):
    """A student in a classroom for one school year."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("student_id", "classroom_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classrooms.id", ondelete="CASCADE"), index=True
    )

    student: Mapped[Student] = relationship(back_populates="enrolments")
    classroom: Mapped[Classroom] = relationship(back_populates="enrolments")
