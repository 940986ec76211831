"""The evidence report: both images' SHA-256 and PDQ, the delivery, the audit chain's
references, and a PDF that carries Japanese text."""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.audit.services import verify_chain
from app.investigate.models import Investigation
from app.investigate.report import PDQ_MATCH_DISTANCE, pdq_hash
from app.photos.blobs import MASTER, read_derivative
from app.web.context import runtime
from tests.investigate.support import (
    UNRELATED,
    decode,
    download_delivery,
    event_gallery,
    investigate,
    jpeg,
    real_photo,
    resized,
)

Signer = Callable[..., FlaskClient]


def _leaked_case(
    app: Flask, session: Session, login_as: Signer
) -> tuple[FlaskClient, Investigation, str]:
    gallery = event_gallery(app, session)
    gallery.event.title = "運動会 2026"
    gallery.guardian.display_name = "山田 花子"
    session.commit()
    photo = gallery.photos[0]
    leaked = jpeg(resized(decode(download_delivery(app, session, gallery, photo)), 1280), 75)
    assert gallery.admin is not None
    client = login_as(gallery.admin)
    response = investigate(client, leaked)
    assert response.status_code == 303
    session.expire_all()
    case = session.scalars(select(Investigation)).one()
    assert case.photo is not None
    assert case.photo.master_sha256 is not None
    return client, case, case.photo.master_sha256


def test_the_report_carries_both_hashes_the_delivery_and_its_audit_references(
    app: Flask, session: Session, login_as: Signer
) -> None:
    client, case, master_sha256 = _leaked_case(app, session, login_as)

    # Read in English: the wording of the false-attribution figure is checked below.
    response = client.get(f"/investigate/cases/{case.id}/report", headers={"Accept-Language": "en"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert case.suspect_sha256 in page
    assert master_sha256 in page
    assert "山田 花子" in page
    assert case.delivery is not None
    assert f"{case.delivery.mark:08x}" in page
    # The false-attribution figure of this very search: its decode attempts, and the bound.
    attempts = case.results["decode_attempts"]
    assert attempts > 0
    assert f"{attempts:,} attempts" in page
    assert f"{attempts * 5.8e-15:.1e}" in page
    session.expire_all()
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.subject == f"investigation:{case.id}"))
    )
    assert [e.action for e in events] == ["investigate.case_opened", "investigate.report_made"]
    for event in events:  # each cited with its place in the chain and its hash
        assert f"#{event.id}" in page
        assert event.hash in page
    assert verify_chain(session, key=runtime(app).keys.audit).ok
    hash_list = page.split('id="hash-list"', 1)[1].split("</table>", 1)[0]
    assert hash_list.count("<code>") == 4  # SHA-256 and PDQ of the suspect and the master


def test_the_pdf_report_contains_both_hashes_and_japanese_text(
    app: Flask, session: Session, login_as: Signer
) -> None:
    client, case, master_sha256 = _leaked_case(app, session, login_as)

    response = client.get(f"/investigate/cases/{case.id}/report.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    text = "".join(page.extract_text() for page in reader.pages)
    flat = "".join(text.split())  # long hashes wrap across lines
    assert case.suspect_sha256 in flat
    assert master_sha256 in flat
    assert "運動会2026" in flat
    assert "山田花子" in flat
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("IPAGothic" in font for font in fonts)


def test_the_pdq_hash_of_a_recompressed_copy_matches_and_of_another_photo_does_not(
    app: Flask, session: Session
) -> None:
    gallery = event_gallery(app, session)
    master = decode(read_derivative(runtime(app).blobs, gallery.photos[0], MASTER))
    original = pdq_hash(master)
    copy = pdq_hash(decode(jpeg(resized(master, 800), 60)))
    other = pdq_hash(decode(real_photo(UNRELATED)))

    assert len(original.hex) == 64
    assert original.distance(copy) <= PDQ_MATCH_DISTANCE
    assert original.distance(other) > 2 * PDQ_MATCH_DISTANCE
