"""Thumbnails, previews and the JPEG encoder."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.imaging import (
    PREVIEW_LONG_SIDE,
    THUMBNAIL_LONG_SIDE,
    derivatives,
    encode_jpeg,
    make_preview,
    make_thumbnail,
    resize_long_side,
)
from tests.imaging.support import SOS, assert_clean_jpeg, jpeg_header_segments, mean_abs_diff

SOF0 = 0xC0
SOF2 = 0xC2


def _gradient(size: tuple[int, int]) -> Image.Image:
    width, height = size
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = Image.linear_gradient("L").rotate(90).resize((width, height))
    return Image.merge("RGB", (horizontal, vertical, Image.new("L", size, 90)))


@pytest.mark.parametrize(
    ("size", "thumbnail", "preview"),
    [
        ((4000, 3000), (400, 300), (1600, 1200)),
        ((3000, 4000), (300, 400), (1200, 1600)),
        ((2000, 2000), (400, 400), (1600, 1600)),
        ((5000, 10), (400, 1), (1600, 3)),
    ],
)
def test_derivatives_fit_their_long_side(
    size: tuple[int, int], thumbnail: tuple[int, int], preview: tuple[int, int]
) -> None:
    image = Image.new("RGB", size, (10, 20, 30))
    assert make_thumbnail(image).size == thumbnail
    assert make_preview(image).size == preview
    both = derivatives(image)
    assert both.thumbnail.size == thumbnail
    assert both.preview.size == preview


def test_small_photos_are_never_enlarged() -> None:
    image = Image.new("RGB", (128, 96), (10, 20, 30))
    assert make_thumbnail(image).size == (128, 96)
    assert make_preview(image).size == (128, 96)
    assert make_thumbnail(image) is not image


def test_derivatives_show_the_same_picture() -> None:
    image = _gradient((3200, 2400))
    thumb = make_thumbnail(image)
    assert mean_abs_diff(thumb, image.resize(thumb.size, Image.Resampling.BOX)) < 2


def test_derivatives_carry_no_info() -> None:
    image = Image.new("RGB", (2000, 1000))
    image.info.update({"exif": b"Exif\x00\x00II*\x00", "comment": b"x", "dpi": (300, 300)})
    assert make_thumbnail(image).info == {}
    assert make_preview(image).info == {}


def test_resize_refuses_a_nonsense_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        resize_long_side(Image.new("RGB", (10, 10)), 0)


def test_encode_jpeg_writes_pixels_only_even_from_a_tagged_image() -> None:
    image = _gradient((320, 240))
    image.info.update(
        {
            "comment": b"Hillside Primary",
            "exif": b"Exif\x00\x00MM\x00*",
            "icc_profile": b"\x00" * 128,
            "xmp": b"<x:xmpmeta/>",
        }
    )

    data = encode_jpeg(image)

    decoded = assert_clean_jpeg(data)
    assert b"Hillside" not in data
    assert decoded.mode == "RGB"
    assert mean_abs_diff(decoded, image) < 3
    assert image.info["comment"] == b"Hillside Primary"  # the caller's object is untouched


def test_encode_jpeg_keeps_grayscale_as_one_channel() -> None:
    gray = Image.linear_gradient("L").resize((64, 64))

    data = encode_jpeg(gray)

    frame = next(payload for marker, payload in jpeg_header_segments(data) if marker == SOF0)
    assert frame[5] == 1  # number of components
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == "L"


def test_encode_jpeg_flattens_transparency_on_white() -> None:
    clear = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    decoded = assert_clean_jpeg(encode_jpeg(clear))
    assert decoded.getpixel((8, 8)) == (255, 255, 255)


def test_encode_jpeg_can_write_progressive() -> None:
    data = encode_jpeg(_gradient((64, 64)), progressive=True)
    markers = [marker for marker, _ in jpeg_header_segments(data)]
    assert SOF2 in markers
    assert markers[-1] == SOS
    assert_clean_jpeg(data)


def test_encode_jpeg_quality_changes_size_and_is_checked() -> None:
    image = _gradient((256, 256))
    assert len(encode_jpeg(image, quality=50)) < len(encode_jpeg(image, quality=95))
    for bad in (0, 101):
        with pytest.raises(ValueError, match="quality"):
            encode_jpeg(image, quality=bad)


def test_default_thumbnail_and_preview_sizes() -> None:
    assert THUMBNAIL_LONG_SIDE == 400
    assert PREVIEW_LONG_SIDE == 1600
