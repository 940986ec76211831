"""Watermarker.embed_jpeg: JPEG bytes in, marked JPEG bytes out, for the download path."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _wm_support import synthetic_photo
from PIL import Image

from app.watermark import UnsupportedImage, Watermarker

PAYLOAD = 0x0BADCAFE


def _encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return synthetic_photo(1400, 1000, seed=21)


def test_marked_jpeg_reads_back_and_verifies(marker: Watermarker, photo: Image.Image) -> None:
    out = marker.embed_jpeg(_encode(photo, quality=95), PAYLOAD)
    marked = Image.open(io.BytesIO(out))
    assert marked.format == "JPEG"
    assert marked.size == photo.size
    assert marker.verify(marked, PAYLOAD).accepted
    assert marker.extract(marked).payload == PAYLOAD


def test_same_mark_as_embed(marker: Watermarker, photo: Image.Image) -> None:
    # Both paths add the same whole grey levels to R, G and B of the decoded photo; only
    # the JPEG codecs differ, so the two files are within JPEG noise of each other.
    data = _encode(photo, quality=95)
    fast = np.asarray(Image.open(io.BytesIO(marker.embed_jpeg(data, PAYLOAD))), np.float64)
    decoded = Image.open(io.BytesIO(data)).convert("RGB")
    slow = np.asarray(
        Image.open(io.BytesIO(_encode(marker.embed(decoded, PAYLOAD), quality=92))), np.float64
    )
    assert float(np.sqrt(np.mean((fast - slow) ** 2))) < 1.5


def test_exif_orientation_is_applied(marker: Watermarker, photo: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it by 90 degrees
    out = marker.embed_jpeg(_encode(photo, quality=95, exif=exif), PAYLOAD)
    marked = Image.open(io.BytesIO(out))
    assert marked.size == (photo.height, photo.width)
    assert marker.verify(marked, PAYLOAD).accepted


def test_other_formats_go_through_pillow(marker: Watermarker, photo: Image.Image) -> None:
    out = marker.embed_jpeg(_encode(photo, "PNG"), PAYLOAD)
    marked = Image.open(io.BytesIO(out))
    assert marked.format == "JPEG"
    assert marker.verify(marked, PAYLOAD).accepted


def test_garbage_is_refused(marker: Watermarker) -> None:
    with pytest.raises(UnsupportedImage):
        marker.embed_jpeg(b"\xff\xd8not really a jpeg", PAYLOAD)
    with pytest.raises(UnsupportedImage):
        marker.embed_jpeg(b"GIF89a", PAYLOAD)


def test_embed_array_in_opencv_order_is_the_same_mark(
    marker: Watermarker, photo: Image.Image
) -> None:
    rgb = np.asarray(photo.convert("RGB"), np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    from_rgb = marker.embed_array(rgb, PAYLOAD)
    from_bgr = marker.embed_array(bgr, PAYLOAD, bgr=True, in_place=True)
    assert np.shares_memory(from_bgr, bgr)  # marked in place
    assert np.array_equal(from_bgr[..., ::-1], from_rgb)
    # Without ``bgr`` the blue channel is weighed as red: a slightly different strength.
    wrong = marker.embed_array(np.ascontiguousarray(rgb[..., ::-1]), PAYLOAD)
    assert not np.array_equal(wrong[..., ::-1], from_rgb)
