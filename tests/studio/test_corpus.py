"""Every photo of the test corpus, uploaded through the real upload path, becomes a ready
photo whose stored derivatives are upright, sRGB and free of metadata, or is refused or
failed with a reason a photographer can act on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session

from app.imaging import PREVIEW_LONG_SIDE, THUMBNAIL_LONG_SIDE
from app.photos.blobs import MASTER, PREVIEW, THUMBNAIL
from app.photos.models import Photo, PhotoStatus
from app.storage import EncryptedBlobs
from tests.imaging.support import assert_clean_jpeg, mean_abs_diff
from tests.imaging.test_corpus import UPRIGHT
from tests.studio.conftest import Studio
from tests.studio.support import api_upload, decrypt
from tests.support.photos import MIN_PHOTOS, PHOTOS_DIR, photo_files, photo_path

pytestmark = pytest.mark.slow

# Files the corpus documents as unusable: accepted by the cheap checks in the request
# (the header is fine), then failed by the job with this code.
EXPECTED_FAILURES = {"pil_truncated_jpeg.jpg": "truncated"}
GPS_NEEDLES = (b"GPSLatitude", b"GPSLongitude", b"exif:GPS", b"xmpmeta", b"Exif\x00\x00")


def test_the_corpus_is_there() -> None:
    # Without it every parametrised test below would silently vanish.
    assert len(photo_files()) >= MIN_PHOTOS, f"photo corpus incomplete at {PHOTOS_DIR}"


def _upload(client: FlaskClient, studio: Studio, path: Path) -> dict[str, object]:
    response = api_upload(client, studio.token, studio.event.id, path.read_bytes(), path.name)
    assert response.status_code in (201, 422), response.get_data(as_text=True)
    body: dict[str, object] = response.get_json()
    return body


def _fitted(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    width, height = size
    if max(size) <= long_side:
        return size
    if width >= height:
        return long_side, max(1, round(height * long_side / width))
    return max(1, round(width * long_side / height)), long_side


@pytest.mark.parametrize("path", photo_files(), ids=lambda p: p.name)
def test_corpus_photo_is_ready_and_clean_or_refused_with_a_reason(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs, path: Path
) -> None:
    body = _upload(client, studio, path)

    if body["result"] == "rejected":
        pytest.fail(f"{path.name} refused: {body['reason']}")
    photo_json = body["photo"]
    assert isinstance(photo_json, dict)
    photo = session.get(Photo, photo_json["id"])
    assert photo is not None
    session.refresh(photo)
    if path.name in EXPECTED_FAILURES:
        assert photo.status is PhotoStatus.FAILED
        assert photo.failure_code == EXPECTED_FAILURES[path.name]
        assert photo_json["failure"]["reason"].startswith("The photo is cut off")  # type: ignore[index]
        assert photo_json["retryable"] is True
        return
    assert photo.status is PhotoStatus.READY, photo.failure_reason

    master = assert_clean_jpeg(decrypt(blobs, photo, MASTER))
    preview = assert_clean_jpeg(decrypt(blobs, photo, PREVIEW))
    thumbnail = assert_clean_jpeg(decrypt(blobs, photo, THUMBNAIL))
    for image in (master, preview, thumbnail):
        assert image.mode == "RGB"  # sRGB: no profile is stored, so readers assume sRGB
    if path.name in UPRIGHT:
        assert master.size == UPRIGHT[path.name]
    assert (photo.width, photo.height) == master.size
    assert preview.size == _fitted(master.size, PREVIEW_LONG_SIDE)
    assert max(thumbnail.size) <= THUMBNAIL_LONG_SIDE
    # The derivatives are the same picture as the master, not an embedded EXIF thumbnail.
    small = (48, 48)
    assert mean_abs_diff(preview.resize(small), master.resize(small)) < 6
    assert mean_abs_diff(thumbnail.resize(small), master.resize(small)) < 8
    for kind in (MASTER, PREVIEW, THUMBNAIL):
        stored = decrypt(blobs, photo, kind)
        for needle in GPS_NEEDLES:
            assert needle not in stored, (kind, needle)


def test_mpo_second_frame_never_appears(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    path = photo_path("pil_sugarshack.mpo")
    with Image.open(path) as source:
        assert getattr(source, "n_frames", 1) == 2
        first = source.convert("RGB")
        source.seek(1)
        second = source.convert("RGB")
    body = _upload(client, studio, path)
    photo = session.get(Photo, body["photo"]["id"])  # type: ignore[index]
    assert photo is not None

    for kind in (MASTER, PREVIEW, THUMBNAIL):
        stored = decrypt(blobs, photo, kind)
        assert stored.count(b"\xff\xd8") == 1
        assert b"MPF" not in stored
        image = Image.open(io.BytesIO(stored)).convert("RGB").resize(first.size)
        assert mean_abs_diff(image, first) < mean_abs_diff(image, second)


def test_gps_only_in_xmp_is_gone(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    path = photo_path("mei_Nokia Lumia 800.jpg")
    data = path.read_bytes()
    assert b"<x:xmpmeta" in data
    assert b"GPSLatitude" in data

    body = _upload(client, studio, path)
    photo = session.get(Photo, body["photo"]["id"])  # type: ignore[index]
    assert photo is not None

    for kind in (MASTER, PREVIEW, THUMBNAIL):
        stored = decrypt(blobs, photo, kind)
        assert b"GPSLatitude" not in stored
        assert b"xmpmeta" not in stored
        assert b"http://ns.adobe.com" not in stored
