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
from werkzeug.test import TestResponse

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
    real_photos,
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


#: A 12 MP photo of the corpus (an iPhone 8's HEIC, 4032 x 3024), as large as a school
#: photographer's camera delivers.
TWELVE_MP = "mei_IMG_1034.heic"


def _paste_twelve_mp_region(marked: Image.Image) -> Image.Image:
    # 400 px of the 4032 px download (a tenth of its width, where a face of a class photo
    # is), at 80 % and turned 2 degrees, pasted into an unrelated picture, as above.
    left, top = 2700, 1600
    region = marked.crop((left, top, left + 400, top + 400)).resize(
        (320, 320), Image.Resampling.BICUBIC
    )
    region = region.rotate(2, resample=Image.Resampling.BICUBIC, expand=False)
    background = decode(real_photo(UNRELATED)).resize((1200, 800), Image.Resampling.BICUBIC)
    background.paste(region.crop((8, 8, 312, 312)), (450, 220))
    return background


def _case_of(response: TestResponse, session: Session) -> Investigation:
    assert response.status_code == 303
    match = re.search(r"/investigate/cases/(\d+)$", response.headers["Location"])
    assert match
    session.expire_all()
    case = session.get(Investigation, int(match.group(1)))
    assert case is not None
    return case


def test_a_400_px_region_of_a_12_mp_download_pasted_into_another_photo_names_the_delivery(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    (photo,) = real_photos(app, session, gallery.event, (TWELVE_MP,))
    assert photo.width * photo.height >= 12_000_000
    marked = decode(download_delivery(app, session, gallery, photo))
    download = session.scalars(select(Delivery).where(Delivery.photo_id == photo.id)).one()

    response = investigate(login_as(gallery.admin), jpeg(_paste_twelve_mp_region(marked), 80))

    case = _case_of(response, session)
    assert case.verdict is Verdict.DELIVERY
    assert case.delivery_id == download.id
    assert case.method == "informed"
    # Found by the index made when the photo was processed: the search indexed nothing.
    assert case.results["newly_indexed"] == 0
    (candidate,) = [c for c in case.results["candidates"] if c["photo_id"] == photo.id]
    assert candidate["inliers"] >= 10
    # Read from the pasted part alone (450..754, 220..524), against the master.
    (read,) = [r for r in case.results["reads"] if r["payload_found"]]
    assert read["against"] == "master"
    left, top, right, bottom = read["region"]
    assert abs(left - 450) <= 16
    assert abs(top - 220) <= 16
    assert abs(right - 754) <= 16
    assert abs(bottom - 524) <= 16


def test_an_unrelated_photo_names_nothing_when_the_index_holds_a_12_mp_photo(
    app: Flask, gallery: Gallery, login_as: Signer, session: Session
) -> None:
    (photo,) = real_photos(app, session, gallery.event, (TWELVE_MP,))
    download_delivery(app, session, gallery, photo)

    response = investigate(login_as(gallery.admin), real_photo(UNRELATED))

    case = _case_of(response, session)
    assert case.verdict is Verdict.NO_MATCH
    assert case.delivery_id is None
    assert case.photo_id is None
    assert case.results["candidates"] == []
