"""Helpers of the studio tests: synthetic photos, blob-store inspection, API calls."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from app.photos.blobs import MASTER, PREVIEW, THUMBNAIL
from app.photos.models import Photo
from app.storage import EncryptedBlobs
from tests.imaging.support import (
    ALLOWED_JPEG_INFO,
    HEADER_NEEDLES,
    header_end,
    jpeg_header_segments,
)

DERIVATIVES = (MASTER, PREVIEW, THUMBNAIL)
# Long needles only: random ciphertext contains any short byte string now and then.
PLAINTEXT_NEEDLES = (b"JFIF\x00", b"<x:xmpmeta", b"http://ns.adobe.com/xap", b"Photoshop 3.0")
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"GIF8", b"<svg", b"<html")


def photo_bytes(
    width: int = 640, height: int = 480, *, seed: int = 0, fmt: str = "JPEG", **params: Any
) -> bytes:
    """A small noisy picture: every seed gives different bytes (so no accidental duplicates)."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    pixels = gradient + rng.normal(0, 20, (height, width, 3))
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def exif_gps_jpeg(seed: int = 0) -> bytes:
    """A JPEG carrying GPS coordinates and an orientation in EXIF."""
    image = Image.open(io.BytesIO(photo_bytes(320, 200, seed=seed)))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (35.0, 41.0, 22.0)
    gps[3] = "E"
    gps[4] = (139.0, 41.0, 30.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def blob_files(blob_dir: Path) -> list[Path]:
    """Every stored blob file (temporary files of interrupted writes included)."""
    if not blob_dir.exists():
        return []
    return sorted(p for p in blob_dir.rglob("*") if p.is_file())


def decrypt(blobs: EncryptedBlobs, photo: Photo, kind: str) -> bytes:
    assert photo.wrapped_key is not None
    return blobs.get(photo.id, kind, photo.wrapped_key)


def api_upload(
    client: FlaskClient,
    token: str,
    event_id: int,
    data: bytes,
    filename: str = "photo.jpg",
    **form: str,
) -> TestResponse:
    return client.post(
        f"/api/studio/events/{event_id}/photos",
        data={"file": (io.BytesIO(data), filename), **form},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        content_type="multipart/form-data",
    )


def api_get(client: FlaskClient, token: str, path: str) -> TestResponse:
    return client.get(path, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})


def api_post_json(client: FlaskClient, token: str, path: str, body: Any) -> TestResponse:
    return client.post(
        path, json=body, headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    )


def assert_clean_large_jpeg(data: bytes) -> Image.Image:
    """Like tests.imaging.support.assert_clean_jpeg, for photos of a megapixel or more.

    That helper also looks for four-byte needles such as ``PK\\x03\\x04`` anywhere in the
    file; entropy-coded data of a large photo contains such a run now and then (one of the
    demo's generated photos does). Here short needles are looked for in the header only,
    and a single picture ending in EOI rules out anything appended.
    """
    segments = jpeg_header_segments(data)
    markers = [marker for marker, _ in segments]
    assert [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE] == []
    header = data[: header_end(data)]
    for needle in (*HEADER_NEEDLES, b"PK\x03\x04", b"<html", b"<script"):
        assert needle not in header, needle
    for needle in PLAINTEXT_NEEDLES:
        assert needle not in data[len(header) :], needle
    assert data.count(b"\xff\xd8") == 1
    assert data.endswith(b"\xff\xd9")
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert set(image.info) <= ALLOWED_JPEG_INFO
        assert len(image.getexif()) == 0
        image.load()
        return image.copy()
