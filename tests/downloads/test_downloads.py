"""Downloads: each file names its one delivery, links work once for the sign-in that asked,
and a download is spent only when a verified file leaves."""

from __future__ import annotations

import io
import secrets
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.deliveries.models import Delivery, DeliveryKind
from app.downloads.models import DownloadLink
from app.downloads.services import open_link, spend
from app.keys import WatermarkKeys
from app.orders.models import Entitlement
from app.watermark import Watermarker
from app.web.context import runtime
from tests.downloads.conftest import SIZE, Paid, ask, read_mark
from tests.orders.conftest import Signer
from tests.support.web import Clock, sign_in


def _used(session: Session, entitlement_id: int) -> int:
    session.expire_all()
    entitlement = session.get(Entitlement, entitlement_id)
    assert entitlement is not None
    return entitlement.downloads_used


def _delivery_of(session: Session, link_url: str) -> Delivery:
    from app.downloads.services import token_hash

    token = link_url.rsplit("/", 1)[1]
    link = session.scalar(select(DownloadLink).where(DownloadLink.token_hash == token_hash(token)))
    assert link is not None
    session.refresh(link.delivery)
    return link.delivery


def test_two_downloads_of_one_photo_carry_their_own_delivery(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    entitlement = paid.entitlements[0]
    files, deliveries = [], []
    for _ in range(2):
        link = ask(client, entitlement.id)
        response = client.get(link)
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment; filename=")
        assert "filename*=UTF-8''" in disposition
        files.append(response.data)
        deliveries.append(_delivery_of(session, link))
    assert files[0] != files[1]
    assert deliveries[0].mark != deliveries[1].mark
    for data, delivery in zip(files, deliveries, strict=True):
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == SIZE  # full resolution
        found = read_mark(app, data)
        assert found.payload == delivery.mark
        assert delivery.kind is DeliveryKind.DOWNLOAD
        assert delivery.guardian_id == paid.gallery.guardian.id
        assert delivery.sent_at is not None
        assert delivery.byte_size == len(data)
        import hashlib

        assert delivery.sha256 == hashlib.sha256(data).hexdigest()
    assert _used(session, entitlement.id) == 2


def test_a_link_works_once(paid: Paid, login_as: Signer, session: Session) -> None:
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    assert client.get(link).status_code == 200
    assert client.get(link).status_code == 410
    assert _used(session, paid.entitlements[0].id) == 1


def test_an_expired_link_is_gone_and_spends_nothing(
    paid: Paid, login_as: Signer, session: Session, clock: Clock
) -> None:
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    clock.advance(minutes=6)
    assert client.get(link).status_code == 410
    assert _used(session, paid.entitlements[0].id) == 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: secrets.token_urlsafe(32),
        lambda token: "short",
        lambda token: token + "x" * 200,
    ],
)
def test_a_tampered_link_is_gone_and_spends_nothing(
    paid: Paid, login_as: Signer, session: Session, tamper: Any
) -> None:
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    base, token = link.rsplit("/", 1)
    assert client.get(f"{base}/{tamper(token)}").status_code in (404, 410)
    assert _used(session, paid.entitlements[0].id) == 0


def test_a_link_from_another_sign_in_is_refused_and_spends_nothing(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    link = ask(login_as(paid.gallery.guardian), paid.entitlements[0].id)
    # The same guardian on another device, or a link passed on: another sign-in.
    other = app.test_client()
    sign_in(app, other, session, paid.gallery.guardian)
    assert other.get(link).status_code == 403
    assert _used(session, paid.entitlements[0].id) == 0


def test_another_familys_entitlement_is_404(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    from tests.factories import make_family, make_guardian, make_student

    family = make_family(session, paid.gallery.school)
    make_student(session, family, paid.gallery.classroom)
    stranger = make_guardian(session, family)
    session.commit()
    client = login_as(stranger)
    from tests.orders.conftest import csrf

    response = client.post(
        f"/downloads/entitlements/{paid.entitlements[0].id}",
        data={"csrf_token": csrf(client, "/orders/downloads")},
    )
    assert response.status_code == 404
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_budget_used_up_is_refused_clearly(
    paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    entitlement = paid.entitlements[1]
    for _ in range(entitlement.downloads_allowed):
        assert client.get(ask(client, entitlement.id)).status_code == 200
    from tests.orders.conftest import csrf

    response = client.post(
        f"/downloads/entitlements/{entitlement.id}",
        data={"csrf_token": csrf(client, "/orders/downloads")},
    )
    assert response.status_code == 403
    assert 'data-left="0"' in client.get("/orders/downloads").get_data(as_text=True)
    assert _used(session, entitlement.id) == entitlement.downloads_allowed


def test_a_revoked_entitlement_refuses_even_a_link_already_made(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    entitlement = session.get(Entitlement, paid.entitlements[0].id)
    assert entitlement is not None
    entitlement.revoked_at = runtime(app).now()
    session.commit()
    assert client.get(link).status_code == 403
    assert _used(session, entitlement.id) == 0


def test_a_withheld_photo_is_not_downloaded(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    photo = paid.gallery.photos[0]
    session.merge(photo).withheld_at = runtime(app).now()
    session.commit()
    assert client.get(link).status_code == 403
    assert _used(session, paid.entitlements[0].id) == 0


def test_two_uses_of_one_link_at_once_spend_once(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    """Both requests get past the checks and make their file; one spends, one is refused.

    This is the interleaving a race produces: two requests open the link before either
    spends; the conditional updates let exactly one through.
    """
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    token = link.rsplit("/", 1)[1]
    delivery = _delivery_of(session, link)
    assert delivery.session_id is not None
    held = runtime(app)
    opened = [
        open_link(
            session,
            token,
            session_id=delivery.session_id,
            family_id=paid.gallery.family.id,
            now=held.now(),
        )
        for _ in range(2)
    ]
    from app.deliveries.services import marked_master

    files = [marked_master(held.blobs, held.watermarks, r.photo, r.delivery) for r in opened]
    results = [spend(session, r, f, held.now()) for r, f in zip(opened, files, strict=True)]
    session.commit()
    assert sorted(results) == [False, True]
    assert _used(session, paid.entitlements[0].id) == 1


def test_two_links_racing_for_the_last_download_spend_it_once(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    entitlement = session.get(Entitlement, paid.entitlements[0].id)
    assert entitlement is not None
    entitlement.downloads_used = entitlement.downloads_allowed - 1
    session.commit()
    client = login_as(paid.gallery.guardian)
    links = [ask(client, entitlement.id), ask(client, entitlement.id)]
    held = runtime(app)
    ready = []
    for link in links:
        delivery = _delivery_of(session, link)
        assert delivery.session_id is not None
        ready.append(
            open_link(
                session,
                link.rsplit("/", 1)[1],
                session_id=delivery.session_id,
                family_id=paid.gallery.family.id,
                now=held.now(),
            )
        )
    from app.deliveries.services import marked_master

    results = [
        spend(
            session, r, marked_master(held.blobs, held.watermarks, r.photo, r.delivery), held.now()
        )
        for r in ready
    ]
    session.commit()
    assert sorted(results) == [False, True]
    assert _used(session, entitlement.id) == entitlement.downloads_allowed


def test_a_file_whose_mark_does_not_verify_is_refused_spends_nothing_and_alerts(
    app: Flask, paid: Paid, login_as: Signer, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unmarked(self: Watermarker, data: bytes, payload: int, quality: int = 92) -> bytes:
        # As if the embedder silently failed: the master re-encoded, no mark in it.
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=quality)
            return out.getvalue()

    monkeypatch.setattr(Watermarker, "embed_jpeg", unmarked)
    client = login_as(paid.gallery.guardian)
    link = ask(client, paid.entitlements[0].id)
    response = client.get(link)
    assert response.status_code == 503
    assert response.mimetype != "image/jpeg"
    assert _used(session, paid.entitlements[0].id) == 0
    alerts = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "alert.mark_not_verified")
    )
    assert alerts == 1
    assert _delivery_of(session, link).sent_at is None


def test_after_key_rotation_downloads_use_the_new_key_and_old_files_still_read(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    held = runtime(app)
    old_secret = held.secrets.watermark_key
    before = client.get(ask(client, paid.entitlements[0].id)).data
    old_id = held.watermarks.current_id
    held.watermarks = WatermarkKeys(secrets.token_bytes(32), retired=(old_secret,))
    assert held.watermarks.current_id != old_id
    link = ask(client, paid.entitlements[1].id)
    after = client.get(link).data
    assert _delivery_of(session, link).key_id == held.watermarks.current_id
    assert read_mark(app, after).key_version == held.watermarks.current_id
    old_read = read_mark(app, before)
    assert old_read.key_version == old_id
    assert old_read.payload is not None


def test_the_history_shows_who_downloaded_what_from_which_device(
    app: Flask, paid: Paid, login_as: Signer, session: Session
) -> None:
    from tests.factories import make_guardian

    partner = make_guardian(session, paid.gallery.family, display_name="Partner Guardian")
    session.commit()
    client = login_as(paid.gallery.guardian)
    client.environ_base["HTTP_USER_AGENT"] = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    assert client.get(ask(client, paid.entitlements[0].id)).status_code == 200
    other = app.test_client()
    sign_in(app, other, session, partner)
    page = other.get("/downloads/history").get_data(as_text=True)
    assert paid.gallery.guardian.display_name in page
    assert "iOS" in page
    # The school sees it on the family's page.
    admin = app.test_client()
    assert paid.gallery.admin is not None
    sign_in(app, admin, session, paid.gallery.admin)
    school_page = admin.get(
        f"/schools/{paid.gallery.school.id}/families/{paid.gallery.family.id}"
    ).get_data(as_text=True)
    assert "data-download" in school_page
