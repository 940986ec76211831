"""The demo school of the embedded default: roster, staff, an event with generated photos.

Every demo photo is drawn here from code (landscapes of a made-up school's sports day), so
the demo never ships a photograph of a real person.  Running the seed again keeps the data
and issues fresh staff passwords, which are printed once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole, StaffUser
from app.auth.passwords import hash_password
from app.auth.policies import SYSTEM
from app.auth.totp import new_totp_secret, open_secret, seal_secret, staff_owner
from app.db import utcnow
from app.photos.models import Event, Photo, PhotoStatus
from app.schools.models import Classroom, Enrolment, Family, School, Student

if TYPE_CHECKING:
    from app.runtime import Runtime

DEMO_SLUG = "demo-sakura"
DEMO_PHOTO_COUNT = 6
DEMO_PHOTO_SIZE = (1800, 1200)

CLASSES = (("3", "A"), ("3", "B"))
FAMILIES = (
    ("F-1001", "Tanaka", (("Tanaka Haruto", 0),)),
    ("F-1002", "Suzuki", (("Suzuki Yui", 0), ("Suzuki Sora", 1))),
    ("F-1003", "Smith", (("Emma Smith", 1),)),
)
STAFF = (
    ("photographer@demo.photogate.test", "Demo Photographer", StaffRole.PHOTOGRAPHER),
    ("admin@demo.photogate.test", "Demo School Administrator", StaffRole.SCHOOL_ADMIN),
    ("operator@demo.photogate.test", "Demo Operator", StaffRole.OPERATOR),
)


@dataclass
class StaffLogin:
    email: str
    role: StaffRole
    password: str
    totp_secret: str


@dataclass
class DemoReport:
    school: str
    classes: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    staff: list[StaffLogin] = field(default_factory=list)
    event: str = ""
    photos: int = 0
    #: Local provider logins of the demo guardians: (username, password).
    guardian_logins: list[tuple[str, str]] = field(default_factory=list)
    #: Fresh invitation codes: (family, code).
    invitations: list[tuple[str, str]] = field(default_factory=list)

    def render(self) -> str:
        """A plain-text summary for the terminal."""
        lines = [
            f"Demo school: {self.school}",
            f"  classes:  {', '.join(self.classes)}",
            f"  families: {', '.join(self.families)}",
            f"  event:    {self.event} ({self.photos} photos)",
            "  staff sign-in (passwords are new on every start):",
        ]
        lines.extend(
            f"    {login.role.value:<13} {login.email}  password: {login.password}  "
            f"TOTP secret: {login.totp_secret}"
            for login in self.staff
        )
        if self.guardian_logins:
            lines.append("  family sign-in at the local demo provider (Sign in > Demo provider):")
            lines.extend(
                f"    {username:<8} password: {password}"
                for username, password in self.guardian_logins
            )
        if self.invitations:
            lines.append(
                "  invitation codes (new on every start; enter one at /join after signing in):"
            )
            lines.extend(f"    {family:<16} {code}" for family, code in self.invitations)
        return "\n".join(lines)


def seed_demo(session: Session, runtime: Runtime) -> DemoReport:
    """Create the demo school if absent, refresh staff credentials, and report them."""
    school = session.scalar(select(School).where(School.slug == DEMO_SLUG))
    if school is None:
        school = _create_school(session)
    report = DemoReport(school=school.name)
    report.classes = [classroom.label for classroom in school.classrooms]
    report.families = [family.display_name for family in school.families]
    report.staff = _refresh_staff(session, school, runtime)
    event = session.scalar(select(Event).where(Event.school_id == school.id))
    if event is not None:
        _ensure_demo_photos(session, runtime, event)
        _ensure_prices(session, school, event)
        report.event = event.title
        report.photos = len(event.photos)
    _refresh_family_access(session, runtime, school, report)
    session.flush()
    return report


def _refresh_family_access(
    session: Session, runtime: Runtime, school: School, report: DemoReport
) -> None:
    from app.auth.demo_logins import demo_users
    from app.families.services import issue_roster_invitations

    report.guardian_logins = [
        (user.username, user.password) for user in demo_users(runtime.secrets.flask_secret)
    ]
    issued = issue_roster_invitations(
        session,
        SYSTEM,
        school,
        [family.id for family in school.families],
        key=runtime.keys.codes,
        now=utcnow(),
    )
    report.invitations = [(item.family.display_name, item.code) for item in issued]


#: The demo's price list in yen, tax included: a download and the four print sizes.
DEMO_PRICES = {
    "digital": 1100,
    "print_l": 330,
    "print_2l": 550,
    "print_6giri": 1650,
    "print_a4": 2200,
}


def _ensure_prices(session: Session, school: School, event: Event) -> None:
    """The demo event is on sale with prices, and its receipts name a seller."""
    from app.orders.models import Product
    from app.orders.services import price_list_of, set_prices

    if not school.seller_name:
        school.seller_name = "Sakura Photo Studio (demo)"
        # A number in the qualified-invoice format; it belongs to no real business.
        school.invoice_registration = "T0000000000000"
    if price_list_of(session, event.id) is None:
        set_prices(
            session,
            SYSTEM,
            event,
            {Product(name): amount for name, amount in DEMO_PRICES.items()},
            downloads_allowed=3,
            download_days=30,
            now=utcnow(),
        )


def _create_school(session: Session) -> School:
    school = School(name="Sakura Elementary School (demo)", slug=DEMO_SLUG)
    session.add(school)
    year = utcnow().year
    classrooms = [Classroom(school=school, school_year=year, grade=g, name=n) for g, n in CLASSES]
    session.add_all(classrooms)
    for reference, name, children in FAMILIES:
        family = Family(school=school, reference=reference, display_name=f"{name} family")
        session.add(family)
        for child_name, class_index in children:
            student = Student(school=school, family=family, name=child_name)
            session.add(student)
            session.add(Enrolment(student=student, classroom=classrooms[class_index]))
    now = utcnow()
    event = Event(
        school=school,
        title="Sports Day",
        event_date=(now - dt.timedelta(days=3)).date(),
        sale_starts_at=now - dt.timedelta(days=1),
        sale_ends_at=now + dt.timedelta(days=60),
        audience=classrooms,
    )
    session.add(event)
    session.flush()
    return school


def _ensure_demo_photos(session: Session, runtime: Runtime, event: Event) -> None:
    """Put the generated photos through the real upload pipeline: the original stored
    encrypted under the blob directory, master, preview and thumbnail made, status ready."""
    from contextlib import nullcontext

    from app.photos.blobs import MASTER
    from app.photos.processing import process_photo
    from app.studio.services import IncomingFile, upload_photos

    blobs, limits = runtime.blobs, runtime.limits
    photographer = session.scalar(select(StaffUser).where(StaffUser.email == STAFF[0][0]))
    for index in range(DEMO_PHOTO_COUNT):
        data = _encode(generate_demo_photo(index))
        existing = session.scalar(
            select(Photo).where(
                Photo.event_id == event.id,
                Photo.original_sha256 == hashlib.sha256(data).hexdigest(),
            )
        )
        if existing is not None:
            if (
                existing.status is PhotoStatus.READY
                and existing.wrapped_key is not None
                and blobs.exists(existing.id, MASTER, existing.wrapped_key)
            ):
                continue
            # Seeded before photos were stored, or the blobs were deleted: make it again.
            session.delete(existing)
            session.flush()
        outcome = upload_photos(
            session,
            blobs,
            photographer if photographer is not None else SYSTEM,
            event,
            [IncomingFile(f"sports-day-{index + 1:02}.jpg", data)],
            album_id=None,
            limits=limits,
            now=utcnow(),
        )[0]
        if outcome.photo is None:
            continue
        process_photo(lambda: nullcontext(session), blobs, outcome.photo.id, limits, utcnow)
        session.expire(outcome.photo)
    session.expire(event, ["photos"])


def _refresh_staff(session: Session, school: School, runtime: Runtime) -> list[StaffLogin]:
    logins = []
    for email, name, role in STAFF:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            user = StaffUser(email=email, display_name=name, role=role, session_version=1)
            session.add(user)
        else:
            # A new password ends every session signed in with the old one.
            user.session_version += 1
        user.school_id = school.id if role is StaffRole.SCHOOL_ADMIN else None
        password = "-".join(secrets.token_hex(3) for _ in range(4))
        user.password_hash = hash_password(password)
        session.flush()
        keyring = runtime.blobs.keyring
        owner = staff_owner(user.id)
        secret = (
            open_secret(keyring, owner, user.totp_secret) if user.totp_secret else new_totp_secret()
        )
        user.totp_secret = seal_secret(keyring, owner, secret)
        logins.append(StaffLogin(email, role, password, secret))
    session.flush()
    photographer = session.scalar(select(StaffUser).where(StaffUser.email == STAFF[0][0]))
    for event in session.scalars(select(Event).where(Event.school_id == school.id)):
        if photographer is not None and photographer not in event.photographers:
            event.photographers.append(photographer)
    return logins


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def generate_demo_photo(index: int, size: tuple[int, int] = DEMO_PHOTO_SIZE) -> Image.Image:
    """A deterministic landscape: sky, sun, hills, a running track and flags."""
    rng = np.random.default_rng(1000 + index)
    width, height = size
    y = np.linspace(0.0, 1.0, height)[:, None]
    top = np.array([70, 130, 200]) + rng.integers(-20, 20, 3)
    bottom = np.array([190, 215, 240])
    sky = (top * (1 - y) + bottom * y)[:, None, :].repeat(width, axis=1)
    image = Image.fromarray(sky.reshape(height, width, 3).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    sun_x, sun_r = int(rng.uniform(0.1, 0.9) * width), int(0.06 * height)
    draw.ellipse((sun_x - sun_r, 80, sun_x + sun_r, 80 + 2 * sun_r), fill=(255, 236, 170))
    for layer, colour in enumerate(((88, 150, 92), (60, 120, 70))):
        base = height * (0.55 + 0.08 * layer)
        xs = np.arange(0, width + 40, 40)
        ys = base + np.cumsum(rng.normal(0, 12, xs.size)) - rng.uniform(0, 60)
        draw.polygon(
            [(0, height), *zip(xs.tolist(), ys.tolist(), strict=True), (width, height)], fill=colour
        )
    track_top = int(height * 0.78)
    draw.rectangle((0, track_top, width, height), fill=(196, 110, 80))
    for lane in range(1, 5):
        lane_y = track_top + lane * (height - track_top) // 5
        draw.line((0, lane_y, width, lane_y), fill=(245, 245, 240), width=4)
    flag_y = int(height * 0.3)
    draw.line((0, flag_y, width, flag_y + 40), fill=(80, 80, 80), width=3)
    palette = ((220, 60, 60), (250, 200, 40), (60, 140, 220), (70, 180, 90), (240, 240, 240))
    for position in range(0, width, 70):
        sag = flag_y + 40 * position / width
        draw.polygon(
            [(position, sag), (position + 50, sag + 2), (position + 25, sag + 45)],
            fill=palette[(position // 70 + index) % len(palette)],
        )
    texture = rng.normal(0, 6, (height, width, 1)).repeat(3, axis=2)
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float64) + texture
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
