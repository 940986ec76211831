"""Roster import: a school's CSV export becomes families, students, classes and enrolments.

Parsing never writes: it returns every row with its fate and every bad row with its line
number.  Applying re-parses the same text and refuses if anything is wrong, so what is
written is exactly what was previewed.  Families are keyed on the school's own family
reference, students on (family, name) and classes on (year, grade, name): importing the
same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.i18n import lazy_gettext as _l
from app.schools.models import Classroom, Enrolment, Family, School, Student

MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
COLUMNS = ("student", "class", "family_reference", "contact")
# Header names a school's export may use, mapped to ours (Japanese exports included).
HEADER_ALIASES = {
    "student": "student",
    "student name": "student",
    "生徒": "student",
    "児童": "student",
    "氏名": "student",
    "class": "class",
    "クラス": "class",
    "学級": "class",
    "family_reference": "family_reference",
    "family reference": "family_reference",
    "family": "family_reference",
    "家庭番号": "family_reference",
    "家庭": "family_reference",
    "contact": "contact",
    "連絡先": "contact",
}
_CLASS = re.compile(r"^\s*(?P<grade>[^\s\-]{1,32})\s*-\s*(?P<name>\S.{0,63}?)\s*$")
_REFERENCE = re.compile(r"^[\w\-./]{1,64}$")


@dataclass
class RosterRow:
    line: int
    student: str
    grade: str
    class_name: str
    reference: str
    contact: str
    #: "new family", "new student" or "unchanged", filled in by the preview.
    outcome: str = ""


@dataclass
class RosterError:
    line: int
    message: str


@dataclass
class RosterPreview:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RosterError] = field(default_factory=list)
    new_classes: list[str] = field(default_factory=list)
    new_families: int = 0
    new_students: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


def decode_roster(data: bytes) -> str | None:
    """The roster's text: UTF-8 (with or without a BOM) or Shift_JIS (cp932, what Excel
    writes for Japanese), or None when it is neither."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def parse_roster(data: bytes) -> tuple[list[RosterRow], list[RosterError]]:
    """Rows and per-line errors of a roster CSV (nothing is looked up or written)."""
    errors: list[RosterError] = []
    if len(data) > MAX_BYTES:
        return [], [RosterError(0, str(_l("The file is larger than 1 MB.")))]
    text = decode_roster(data)
    if text is None:
        return [], [RosterError(0, str(_l("The file is not UTF-8 or Shift_JIS text.")))]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [RosterError(1, str(_l("The file is empty.")))]
    names = [HEADER_ALIASES.get(cell.strip().lower(), "") for cell in header]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        message = _l(
            "The first line must name the columns student, class, family_reference and "
            "contact; missing: %(missing)s.",
            missing=", ".join(missing),
        )
        return [], [RosterError(1, str(message))]
    index = {name: names.index(name) for name in COLUMNS}
    rows: list[RosterRow] = []
    seen: dict[tuple[str, str], int] = {}
    contacts: dict[str, tuple[str, int]] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                errors.append(RosterError(line, str(_l("More than 5000 rows: split the file."))))
                break
            row = _row(line, cells, index, errors)
            if row is None:
                continue
            key = (row.reference, row.student)
            if key in seen:
                errors.append(
                    RosterError(
                        line,
                        str(_l("The same student appears on line %(other)d.", other=seen[key])),
                    )
                )
                continue
            seen[key] = line
            conflict = _contact_conflict(row, contacts)
            if conflict is not None:
                errors.append(conflict)
                continue
            rows.append(row)
    except csv.Error as error:
        errors.append(
            RosterError(reader.line_num, str(_l("Broken CSV: %(error)s", error=str(error))))
        )
    if not rows and not errors:
        errors.append(RosterError(2, str(_l("The file has no rows after the header."))))
    return rows, errors


def _contact_conflict(row: RosterRow, contacts: dict[str, tuple[str, int]]) -> RosterError | None:
    """An error when a family's rows name different contacts (which one would be right?)."""
    if not row.contact:
        return None
    previous = contacts.get(row.reference)
    if previous is not None and previous[0] != row.contact:
        message = _l(
            "Family %(reference)s has another contact on line %(other)d.",
            reference=row.reference,
            other=previous[1],
        )
        return RosterError(row.line, str(message))
    contacts.setdefault(row.reference, (row.contact, row.line))
    return None


def _row(
    line: int, cells: list[str], index: dict[str, int], errors: list[RosterError]
) -> RosterRow | None:
    def cell(name: str) -> str:
        position = index[name]
        return cells[position].strip() if position < len(cells) else ""

    student, klass, reference, contact = (cell(name) for name in COLUMNS)
    problems = []
    if not student:
        problems.append(str(_l("the student's name is missing")))
    elif len(student) > 200:
        problems.append(str(_l("the student's name is longer than 200 characters")))
    match = _CLASS.match(klass)
    if not klass:
        problems.append(str(_l("the class is missing")))
    elif match is None:
        problems.append(str(_l("the class must look like 3-A (grade, hyphen, class)")))
    if not reference:
        problems.append(str(_l("the family reference is missing")))
    elif not _REFERENCE.match(reference):
        problems.append(
            str(_l("the family reference may only hold letters, digits and - . / _ (64 at most)"))
        )
    if len(contact) > 320:
        problems.append(str(_l("the contact is longer than 320 characters")))
    if problems or match is None:
        errors.append(RosterError(line, "; ".join(problems)))
        return None
    return RosterRow(
        line=line,
        student=student,
        grade=match.group("grade"),
        class_name=match.group("name"),
        reference=reference,
        contact=contact,
    )


def preview_roster(
    session: Session, school: School, school_year: int, data: bytes
) -> RosterPreview:
    """What importing ``data`` would do, without writing anything."""
    rows, errors = parse_roster(data)
    preview = RosterPreview(rows=rows, errors=errors)
    families = {
        family.reference: family
        for family in session.scalars(select(Family).where(Family.school_id == school.id))
    }
    classes = {
        (c.grade, c.name)
        for c in session.scalars(
            select(Classroom).where(
                Classroom.school_id == school.id, Classroom.school_year == school_year
            )
        )
    }
    new_classes: dict[tuple[str, str], None] = {}
    new_references: set[str] = set()
    for row in rows:
        if (row.grade, row.class_name) not in classes:
            new_classes[(row.grade, row.class_name)] = None
        family = families.get(row.reference)
        if family is None:
            row.outcome = "new family"
            new_references.add(row.reference)
            preview.new_students += 1
        elif any(student.name == row.student for student in family.students):
            row.outcome = "unchanged"
        else:
            row.outcome = "new student"
            preview.new_students += 1
    preview.new_families = len(new_references)
    preview.new_classes = [f"{grade}-{name}" for grade, name in new_classes]
    return preview


@dataclass(frozen=True)
class ImportResult:
    families: int
    students: int
    classes: int


def import_roster(session: Session, school: School, school_year: int, data: bytes) -> ImportResult:
    """Write the roster (flushed); raise ValueError if the data has any error."""
    rows, errors = parse_roster(data)
    if errors or not rows:
        raise ValueError("the roster has errors; preview it first")
    new_families = new_students = new_classes = 0
    classrooms: dict[tuple[str, str], Classroom] = {
        (c.grade, c.name): c
        for c in session.scalars(
            select(Classroom).where(
                Classroom.school_id == school.id, Classroom.school_year == school_year
            )
        )
    }
    families = {
        family.reference: family
        for family in session.scalars(select(Family).where(Family.school_id == school.id))
    }
    for row in rows:
        classroom = classrooms.get((row.grade, row.class_name))
        if classroom is None:
            classroom = Classroom(
                school_id=school.id, school_year=school_year, grade=row.grade, name=row.class_name
            )
            session.add(classroom)
            classrooms[(row.grade, row.class_name)] = classroom
            new_classes += 1
        family = families.get(row.reference)
        if family is None:
            family = Family(
                school_id=school.id,
                reference=row.reference,
                display_name=row.reference,
                contact=row.contact or None,
            )
            session.add(family)
            families[row.reference] = family
            new_families += 1
        elif row.contact:
            family.contact = row.contact
        student = next((s for s in family.students if s.name == row.student), None)
        if student is None:
            student = Student(school_id=school.id, family=family, name=row.student)
            session.add(student)
            new_students += 1
        session.flush()
        if not any(e.classroom_id == classroom.id for e in student.enrolments):
            session.add(Enrolment(student=student, classroom=classroom))
    session.flush()
    return ImportResult(families=new_families, students=new_students, classes=new_classes)
