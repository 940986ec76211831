"""A region of a download pasted into another picture (how a deepfake composite is made)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.deliveries.models import Delivery, DeliveryKind
from app.investigate.models import Investigation, Verdict
from tests.investigate.support import (
    UNRELATED,
    decode,
    download_delivery,
    event_gallery,
    investigate,
    jpeg,
    real_photo,
)
from tests.support.gallery import Gallery

Signer = Callable[..., FlaskClient]


@pytest.fixture
def gallery(app: Flask, session: Session) -> Gallery:
    return event_gallery(app, session)


def test_a_face_region_pasted_scaled_and_turned_into_another_photo_names_the_delivery(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    photo = gallery.photos[0]
    marked = decode(download_delivery(app, session, gallery, photo))
    # A 400 px region of the download, at 80 % and turned 2 degrees, pasted into an
    # unrelated picture that is scaled up to hold it, saved at q80.
    region = marked.crop((700, 300, 1100, 700)).resize((320, 320), Image.Resampling.BICUBIC)
    region = region.rotate(2, resample=Image.Resampling.BICUBIC, expand=False)
    background = decode(real_photo(UNRELATED)).resize((1200, 800), Image.Resampling.BICUBIC)
    background.paste(region.crop((8, 8, 312, 312)), (450, 220))
    download = session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.DOWNLOAD)).one()

    response = investigate(login_as(gallery.admin), jpeg(background, 80))

    assert response.status_code == 303
    match = re.search(r"/investigate/cases/(\d+)$", response.headers["Location"])
    assert match
    session.expire_all()
    case = session.get(Investigation, int(match.group(1)))
    assert case is not None
    assert case.verdict is Verdict.DELIVERY
    assert case.delivery_id == download.id
    # Read from a part of the suspect alone, around what was pasted (450..754, 220..524).
    (read,) = [r for r in case.results["reads"] if r["payload_found"]]
    left, top, right, bottom = read["region"]
    assert 450 < (left + right) / 2 < 754
    assert 220 < (top + bottom) / 2 < 524
    assert (right - left) * (bottom - top) >= 128 * 128
