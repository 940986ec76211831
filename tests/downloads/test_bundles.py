"""ZIPs: a whole order marked file by file, fetched once by the sign-in that asked; the
print lab's export; nothing spent when a job fails."""

from __future__ import annotations

import csv
import io
import zipfile

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deliveries.models import Delivery, DeliveryKind
from app.downloads.models import Bundle, BundleStatus
from app.housekeeping import tidy
from app.orders.models import Entitlement
from app.watermark import Watermarker
from app.web.context import runtime
from tests.downloads.conftest import Paid, read_mark
from tests.orders.conftest import Signer, csrf
from tests.support.web import Clock, sign_in


def _used(session: Session) -> list[int]:
    session.expire_all()
    return [e.downloads_used for e in session.scalars(select(Entitlement).order_by(Entitlement.id))]


def _order_zip(client: object, paid: Paid) -> str:
    response = client.post(  # type: ignore[attr-defined]
        f"/downloads/orders/{paid.order.id}/zip",
        data={"csrf_token": csrf(client, f"/orders/{paid.order.id}")},  # type: ignore[arg-type]
    )
    assert response.status_code == 303
    return str(response.headers["Location"])


def test_a_zip_of_three_photos_holds_three_files_each_naming_its_own_delivery(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    page = _order_zip(client, paid)
    state = client.get(f"{page}.json").get_json()
    assert state["status"] == "ready"  # the embedded default builds it at once
    assert (state["done"], state["total"]) == (3, 3)
    assert _used(session) == [0, 0, 0]  # nothing spent until it is fetched
    response = client.get(state["url"])
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
        files = {name: archive.read(name) for name in names}
    assert len(files) == 3
    deliveries = session.scalars(select(Delivery).where(Delivery.bundle_id.is_not(None))).all()
    assert len(deliveries) == 3
    marks = {delivery.mark for delivery in deliveries}
    read = {read_mark(app, data).payload for data in files.values()}
    assert read == marks
    assert all(d.kind is DeliveryKind.DOWNLOAD and d.sent_at is not None for d in deliveries)
    assert _used(session) == [1, 1, 1]
    # Once only; the stored ZIP is gone.
    assert client.get(state["url"]).status_code == 410
    bundle = session.scalars(select(Bundle)).one()
    assert bundle.status is BundleStatus.FETCHED
    assert bundle.wrapped_key is None


def test_a_zip_is_fetched_only_by_the_sign_in_that_asked(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    page = _order_zip(login_as(paid.gallery.guardian), paid)
    other = app.test_client()
    sign_in(app, other, session, paid.gallery.guardian)
    state = other.get(f"{page}.json").get_json()
    assert other.get(state["url"]).status_code == 403
    assert _used(session) == [0, 0, 0]


def test_another_family_cannot_see_or_fetch_the_zip(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    from tests.factories import make_family, make_guardian, make_student

    page = _order_zip(login_as(paid.gallery.guardian), paid)
    family = make_family(session, paid.gallery.school)
    make_student(session, family, paid.gallery.classroom)
    stranger = make_guardian(session, family)
    session.commit()
    other = app.test_client()
    sign_in(app, other, session, stranger)
    assert other.get(page).status_code == 404
    assert other.get(f"{page}/zip").status_code == 404
    response = other.post(
        f"/downloads/orders/{paid.order.id}/zip",
        data={"csrf_token": csrf(other, "/orders/downloads")},
    )
    assert response.status_code == 404


def test_a_failed_job_spends_nothing_and_says_so(
    app: Flask,
    paid: Paid,
    login_as: Signer,
    session: Session,
    monkeypatch: object,
) -> None:
    def broken(self: Watermarker, data: bytes, payload: int, quality: int = 92) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(Watermarker, "embed_jpeg", broken)  # type: ignore[attr-defined]
    client = login_as(paid.gallery.guardian)
    page = _order_zip(client, paid)
    state = client.get(f"{page}.json").get_json()
    assert state["status"] == "failed"
    assert state["failure"]
    assert state["url"] is None
    assert _used(session) == [0, 0, 0]


def test_an_unfetched_zip_is_deleted_after_its_hour(
    app: Flask, paid: Paid, login_as: Signer, session: Session, clock: Clock
) -> None:
    client = login_as(paid.gallery.guardian)
    page = _order_zip(client, paid)
    url = client.get(f"{page}.json").get_json()["url"]
    clock.advance(hours=1, seconds=1)
    assert tidy(runtime(app)).bundles_cleared == 1
    # By then the family may have signed in again; the ZIP is gone either way.
    again = app.test_client()
    sign_in(app, again, session, paid.gallery.guardian)
    assert again.get(url).status_code == 410
    session.expire_all()
    bundle = session.scalars(select(Bundle)).one()
    assert (bundle.status, bundle.wrapped_key) == (BundleStatus.EXPIRED, None)
    assert _used(session) == [0, 0, 0]


def test_the_print_export_marks_each_print_for_the_lab(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    admin = paid.gallery.admin
    assert admin is not None
    client = login_as(admin)
    response = client.post(
        f"/studio/events/{paid.gallery.event.id}/prints/export",
        data={"csrf_token": csrf(client, "/staff/signin")},
    )
    assert response.status_code == 303
    page = str(response.headers["Location"])
    state = client.get(f"{page}.json").get_json()
    assert state["status"] == "ready"
    data = client.get(state["url"]).data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        rows = list(csv.reader(io.StringIO(archive.read("prints.csv").decode("utf-8-sig"))))
        [jpeg] = [name for name in names if name.endswith(".jpg")]
        marked = archive.read(jpeg)
    assert rows[1][5] == jpeg  # the list names the file in the ZIP
    delivery = session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.PRINT)).one()
    assert delivery.staff_user_id == admin.id
    assert read_mark(app, marked).payload == delivery.mark
    # A photographer not on the event does not learn it exists.
    from app.auth.models import StaffRole
    from tests.factories import make_staff

    stranger = make_staff(session, StaffRole.PHOTOGRAPHER)
    session.commit()
    other = app.test_client()
    sign_in(app, other, session, stranger)
    response = other.post(
        f"/studio/events/{paid.gallery.event.id}/prints/export",
        data={"csrf_token": csrf(other, "/staff/signin")},
    )
    assert response.status_code == 404


def test_a_zip_of_an_event_from_the_downloads_page(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    page = client.get("/orders/downloads").get_data(as_text=True)
    action = f"/downloads/events/{paid.gallery.event.id}/zip"
    assert action in page
    response = client.post(action, data={"csrf_token": csrf(client, "/orders/downloads")})
    state = client.get(f"{response.headers['Location']}.json").get_json()
    assert (state["status"], state["total"]) == ("ready", 3)
    with zipfile.ZipFile(io.BytesIO(client.get(state["url"]).data)) as archive:
        assert len(archive.namelist()) == 3
    assert _used(session) == [1, 1, 1]
