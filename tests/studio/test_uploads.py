"""Uploads through the JSON API: accepted files become ready photos with clean, encrypted
derivatives; bad files are refused at once with nothing stored."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.photos.blobs import MASTER, ORIGINAL, PREVIEW, THUMBNAIL
from app.photos.models import Photo, PhotoStatus
from app.storage import EncryptedBlobs
from app.studio.services import clean_filename
from app.web.context import runtime
from tests.imaging.support import assert_clean_jpeg, png_bytes
from tests.studio.conftest import Studio
from tests.studio.support import (
    PLAINTEXT_NEEDLES,
    SIGNATURES,
    api_upload,
    blob_files,
    decrypt,
    exif_gps_jpeg,
    photo_bytes,
)


def _photo_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Photo)) or 0)


def _blob_dir(app: Flask) -> Path:
    return runtime(app).settings.blob_dir


def test_accepted_upload_becomes_a_ready_photo_with_clean_derivatives(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    data = exif_gps_jpeg()
    assert b"Exif" in data

    response = api_upload(client, studio.token, studio.event.id, data, "IMG_0001.JPG")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["result"] == "accepted"
    assert body["photo"]["status"] == "ready"
    photo = session.get(Photo, body["photo"]["id"])
    assert photo is not None
    session.refresh(photo)
    assert photo.status is PhotoStatus.READY
    assert photo.original_filename == "IMG_0001.JPG"
    assert photo.uploaded_by_id == studio.photographer.id
    # Orientation 6 applied: the 320x200 picture is upright at 200x320.
    assert (photo.width, photo.height) == (200, 320)
    assert photo.phash is not None
    assert len(photo.phash) == 16
    assert photo.dhash is not None
    assert len(photo.dhash) == 16
    assert decrypt(blobs, photo, ORIGINAL) == data
    for kind in (MASTER, PREVIEW, THUMBNAIL):
        image = assert_clean_jpeg(decrypt(blobs, photo, kind))
        assert image.mode == "RGB"
        assert image.size[1] > image.size[0]


def test_duplicate_upload_is_detected(
    client: FlaskClient, session: Session, studio: Studio
) -> None:
    data = photo_bytes(seed=7)
    first = api_upload(client, studio.token, studio.event.id, data, "a.jpg")
    second = api_upload(client, studio.token, studio.event.id, data, "copy of a.jpg")

    assert first.status_code == 201
    assert second.status_code == 200
    body = second.get_json()
    assert body["result"] == "duplicate"
    assert body["code"] == "duplicate"
    assert body["photo"]["id"] == first.get_json()["photo"]["id"]
    assert body["reason"] == "This photo is already in this event."
    assert _photo_count(session) == 1


def _svg() -> bytes:
    return b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _html() -> bytes:
    return b"<!doctype html><html><body><script>fetch('/steal')</script></body></html>"


def _png_bomb() -> bytes:
    # 40000 x 40000 one-bit pixels: 1.6 gigapixels from about 200 kB of zeros.
    width = height = 40_000
    row = b"\x00" + bytes(width // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_bytes(width, height, bit_depth=1, color_type=0, idat=idat)


@pytest.fixture(scope="module")
def jpeg_108mp() -> bytes:
    """A real 108-megapixel JPEG (12000 x 9000, grey, so it stays small)."""
    out = io.BytesIO()
    Image.new("L", (12_000, 9_000), 128).save(out, "JPEG", quality=50)
    return out.getvalue()


REFUSALS = {
    "svg renamed .jpg": (_svg, "format", "SVG"),
    "html renamed .jpg": (_html, "format", "HTML"),
    "empty file": (lambda: b"", "empty", None),
    "png decompression bomb": (_png_bomb, "too_many_pixels", None),
    "header-only giant png": (lambda: png_bytes(60_000, 60_000), "too_many_pixels", None),
    "garbage after a jpeg signature": (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 64, "corrupt", None),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_file_is_refused_at_once_with_nothing_stored(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, case: str
) -> None:
    make, code, found = REFUSALS[case]

    response = api_upload(client, studio.token, studio.event.id, make(), "holiday.jpg")

    assert response.status_code == 422
    body = response.get_json()
    assert body["result"] == "rejected"
    assert body["code"] == code
    assert body["reason"]
    if found:
        assert found in body["reason"]
    assert _photo_count(session) == 0
    assert blob_files(_blob_dir(app)) == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_108_megapixel_photo_is_refused_with_the_limit(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, jpeg_108mp: bytes
) -> None:
    response = api_upload(client, studio.token, studio.event.id, jpeg_108mp, "huge.jpg")

    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "too_many_pixels"
    assert body["reason"] == "The photo has too many pixels: the limit is 60 megapixels."
    assert "108" in body["detail"]
    assert _photo_count(session) == 0
    assert blob_files(_blob_dir(app)) == []


def test_over_size_body_is_refused_before_it_is_read(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 200_000
    data = photo_bytes(seed=3) + b"\x00" * 250_000

    response = api_upload(client, studio.token, studio.event.id, data)

    assert response.status_code == 413
    assert response.get_json()["status"] == 413
    assert _photo_count(session) == 0
    assert blob_files(_blob_dir(app)) == []


def test_file_over_the_per_file_limit_is_refused(
    app: Flask, client: FlaskClient, session: Session, studio: Studio
) -> None:
    runtime(app).settings = runtime(app).settings.with_overrides(max_upload_bytes=50_000)
    data = photo_bytes(800, 600, seed=4, quality=100)
    assert len(data) > 50_000

    response = api_upload(client, studio.token, studio.event.id, data)

    assert response.status_code == 422
    assert response.get_json()["code"] == "too_large"
    assert response.get_json()["reason"] == "The file is too large: the limit is 0 MB."
    assert _photo_count(session) == 0


@pytest.mark.parametrize(
    "trailer",
    [
        b"<html><body><script>document.location='//evil.example'</script></body></html>",
        b"PK\x03\x04" + b"\x14\x00" * 20 + b"evil.js" + b"\x00" * 40 + b"PK\x05\x06" + b"\x00" * 18,
    ],
    ids=["html", "zip"],
)
def test_polyglot_is_neutralised(
    client: FlaskClient,
    session: Session,
    studio: Studio,
    blobs: EncryptedBlobs,
    trailer: bytes,
) -> None:
    data = photo_bytes(seed=11) + trailer

    response = api_upload(client, studio.token, studio.event.id, data, "poly.jpg")

    assert response.status_code == 201
    photo = session.get(Photo, response.get_json()["photo"]["id"])
    assert photo is not None
    session.refresh(photo)
    assert photo.status is PhotoStatus.READY
    for kind in (MASTER, PREVIEW, THUMBNAIL):
        stored = decrypt(blobs, photo, kind)
        assert_clean_jpeg(stored)
        assert trailer[:8] not in stored


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\Windows\\win.ini.jpg", "win.ini.jpg"),
        ("/absolute/path/IMG_1.jpg", "IMG_1.jpg"),
        ("..", "upload"),
        ("", "upload"),
        (".hidden.jpg", "hidden.jpg"),
        ("evil\x00name\n.jpg", "evilname.jpg"),
        ("a" * 300 + ".jpg", "a" * 255),
    ],
)
def test_file_names_are_reduced_to_a_safe_base_name(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept


@pytest.mark.parametrize(
    "sent",
    ["../../../../etc/passwd.jpg", "..\\..\\Windows\\win.ini.jpg", "/var/x/../../passwd.jpg"],
)
def test_path_traversal_file_names_are_neutralised(
    *, app: Flask, client: FlaskClient, session: Session, studio: Studio, tmp_path: Path, sent: str
) -> None:
    def planted() -> set[Path]:
        return set(tmp_path.parent.rglob("*passwd*")) | set(tmp_path.parent.rglob("*win.ini*"))

    before = planted()

    response = api_upload(client, studio.token, studio.event.id, photo_bytes(seed=5), sent)

    assert response.status_code == 201
    kept = response.get_json()["filename"]
    assert "/" not in kept
    assert "\\" not in kept
    assert not kept.startswith(".")
    assert kept.endswith(("passwd.jpg", "win.ini.jpg"))
    photo = session.get(Photo, response.get_json()["photo"]["id"])
    assert photo is not None
    assert photo.original_filename == kept
    assert planted() == before
    blob_dir = _blob_dir(app)
    for path in blob_files(blob_dir):
        assert path.resolve().is_relative_to(blob_dir.resolve())
        assert all(ch in "0123456789abcdef" for ch in path.name)


def test_blobs_on_disk_are_ciphertext(app: Flask, client: FlaskClient, studio: Studio) -> None:
    for seed in range(3):
        response = api_upload(client, studio.token, studio.event.id, exif_gps_jpeg(seed))
        assert response.status_code == 201

    files = blob_files(_blob_dir(app))

    # An original, a master, a preview and a thumbnail per photo.
    assert len(files) == 12
    for path in files:
        data = path.read_bytes()
        assert not data.startswith(SIGNATURES), path
        for needle in PLAINTEXT_NEEDLES:
            assert needle not in data, (path, needle)
        assert path.stat().st_mode & 0o077 == 0
