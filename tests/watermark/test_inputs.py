"""Awkward input: every image gives a valid mark or a clear ValueError, never a crash."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _wm_support import jpeg, synthetic_photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.watermark import UnsupportedImage, Watermarker
from tests.support.photos import photo_path

PAYLOAD = 424242


@pytest.fixture(scope="module")
def base() -> Image.Image:
    return synthetic_photo(1280, 960, seed=9)


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (60, 60), (127, 400), (400, 127)])
def test_too_small_images_are_refused_clearly(marker: Watermarker, size: tuple[int, int]) -> None:
    with pytest.raises(UnsupportedImage, match="at least 128x128"):
        marker.embed(Image.new("RGB", size, (120, 130, 140)), PAYLOAD)


def test_too_large_images_are_refused_before_decoding(marker: Watermarker) -> None:
    huge = Image.new("1", (12_000, 9_000))
    with pytest.raises(UnsupportedImage, match="limit"):
        marker.embed(huge, PAYLOAD)
    with pytest.raises(UnsupportedImage, match="limit"):
        marker.extract(huge)


def test_truncated_jpeg_is_refused_clearly(marker: Watermarker, base: Image.Image) -> None:
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    broken = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(UnsupportedImage, match="could not be decoded"):
        marker.embed(broken, PAYLOAD)
    broken = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(UnsupportedImage, match="could not be decoded"):
        marker.extract(broken)


def test_truncated_test_photo_is_refused(marker: Watermarker) -> None:
    with pytest.raises(UnsupportedImage):
        marker.embed(Image.open(photo_path("pil_truncated_jpeg.jpg")), PAYLOAD)


def test_not_an_image_is_refused(marker: Watermarker) -> None:
    with pytest.raises(UnsupportedImage, match="PIL image"):
        marker.embed(np.zeros((256, 256, 3), np.uint8), PAYLOAD)  # type: ignore[arg-type]


def test_unsupported_mode_is_refused(marker: Watermarker, base: Image.Image) -> None:
    lab = base.convert("LAB")
    with pytest.raises(UnsupportedImage, match="mode"):
        marker.embed(lab, PAYLOAD)


def _as_mode(base: Image.Image, mode: str) -> Image.Image:
    if mode == "I;16":
        values = np.asarray(base.convert("L"), dtype=np.uint16) * 257
        return Image.fromarray(values)
    if mode == "F":
        return Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255.0, "F")
    if mode == "RGBA":
        rgba = base.convert("RGBA")
        rgba.putalpha(255)
        return rgba
    return base.convert(mode)


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16", "RGBA", "LA", "P", "F", "YCbCr"])
def test_other_modes_get_a_readable_rgb_mark(
    marker: Watermarker, base: Image.Image, mode: str
) -> None:
    source = _as_mode(base, mode)
    marked = marker.embed(source, PAYLOAD)
    assert marked.mode == "RGB"
    assert marked.size == source.size
    assert marker.extract(jpeg(marked, 90)).payload == PAYLOAD


def test_sixteen_bit_input_is_scaled_not_clipped(marker: Watermarker) -> None:
    ramp = (np.linspace(0, 65535, 256 * 256).reshape(256, 256)).astype(np.uint16)
    source = Image.fromarray(ramp)
    assert source.mode == "I;16"
    marked = marker.embed(source, PAYLOAD)
    grey = np.asarray(marked.convert("L"), dtype=np.float64)
    # A ramp over the whole 16-bit range stays a ramp over the whole 8-bit range.
    assert grey.min() < 20
    assert grey.max() > 235


def test_transparent_pixels_become_white(marker: Watermarker) -> None:
    clear = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    marked = np.asarray(marker.embed(clear, PAYLOAD), dtype=np.int16)
    assert marked.mean() > 240


def test_tiny_suspect_is_refused_clearly(marker: Watermarker) -> None:
    with pytest.raises(UnsupportedImage, match="at least"):
        marker.extract(Image.new("RGB", (40, 40)))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    width=st.integers(1, 400),
    height=st.integers(1, 400),
    mode=st.sampled_from(["RGB", "L", "RGBA", "P", "1", "CMYK", "I;16", "LA"]),
    seed=st.integers(0, 1000),
)
def test_any_small_image_gives_a_mark_or_a_clear_error(
    marker: Watermarker, width: int, height: int, mode: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    source = _as_mode(rgb, mode)
    if min(width, height) < 128:
        with pytest.raises(UnsupportedImage, match="at least"):
            marker.embed(source, seed)
        return
    marked = marker.embed(source, seed)
    assert marked.mode == "RGB"
    assert marked.size == (width, height)
    found = marker.extract(marked)
    assert found.payload in (seed, None)
