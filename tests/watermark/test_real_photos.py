"""Real photographs from the test corpus (tests/data/photos/, see its SOURCES.md).

The default run uses two photos and a handful of attacks; the slow run covers every photo
of at least 1 MP in the repository's corpus (JPEG, HEIC, AVIF and WebP, read through
pillow-heif where Pillow needs it) with the attacks of the product goals. The fuller corpus
(PHOTOGATE_TEST_PHOTOS) has more such photos; the benchmark runs those.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _wm_support import jpeg, load_photo, psnr
from PIL import Image

from app.watermark import Watermarker

PAYLOAD = 2_718_281_828

BIG_PHOTOS = [
    "exs_iphone_13_pro_max.HEIC",
    "mei_Canon PowerShot A560.jpg",
    "mei_IMG_1034.heic",
    "mei_Issue 177.jpg",
    "mei_Issue 308.jpg",
    "mei_Issue 649.avif",
    "mei_Nikon Coolpix P7000.webp",
    "mei_Nokia Lumia 800.jpg",
    "ori_Landscape_0.jpg",
]


def crop_area(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    s = math.sqrt(fraction)
    cw, ch = int(w * s), int(h * s)
    x0, y0 = (w - cw) // 3, (h - ch) // 2
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def rotate_crop(image: Image.Image, degrees: float) -> Image.Image:
    w, h = image.size
    turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC)
    m = math.ceil(max(w, h) * math.sin(math.radians(abs(degrees)))) + 2
    return turned.crop((m, m, w - m, h - m))


@pytest.fixture(scope="module")
def landscape(marker: Watermarker) -> tuple[Image.Image, Image.Image]:
    original = load_photo("ori_Landscape_0.jpg")
    return original, jpeg(marker.embed(original, PAYLOAD), 92)


@pytest.fixture(scope="module")
def office(marker: Watermarker) -> tuple[Image.Image, Image.Image]:
    original = load_photo("mei_Issue 177.jpg")
    return original, jpeg(marker.embed(original, PAYLOAD), 92)


def test_mark_is_quiet(marker: Watermarker, landscape: tuple[Image.Image, Image.Image]) -> None:
    original, _ = landscape
    assert psnr(original, marker.embed(original, PAYLOAD)) >= 42.0


def test_jpeg_q50_reads_back(
    marker: Watermarker, landscape: tuple[Image.Image, Image.Image]
) -> None:
    assert marker.extract(jpeg(landscape[1], 50)).payload == PAYLOAD


def test_quarter_crop_reads_back(
    marker: Watermarker, office: tuple[Image.Image, Image.Image]
) -> None:
    assert marker.extract(jpeg(crop_area(office[1], 0.25), 90)).payload == PAYLOAD


def test_screenshot_reads_back(
    marker: Watermarker, office: tuple[Image.Image, Image.Image]
) -> None:
    w, h = office[1].size
    shot = office[1].resize((1280, round(1280 * h / w)), Image.Resampling.BILINEAR)
    assert marker.extract(shot).payload == PAYLOAD


def test_unmarked_and_wrong_key_are_absent(
    marker: Watermarker, other_marker: Watermarker, landscape: tuple[Image.Image, Image.Image]
) -> None:
    original, marked = landscape
    assert marker.extract(jpeg(original, 92)).payload is None
    assert other_marker.extract(marked).payload is None


def test_informed_face_region(marker: Watermarker, office: tuple[Image.Image, Image.Image]) -> None:
    original, marked = office
    w, h = marked.size
    face = jpeg(marked.crop((w // 2 - 256, h // 3 - 256, w // 2 + 256, h // 3 + 256)), 80)
    found = marker.extract(face, original=original)
    assert found.payload == PAYLOAD
    assert found.method == "informed"


def test_informed_rotation(marker: Watermarker, landscape: tuple[Image.Image, Image.Image]) -> None:
    original, marked = landscape
    found = marker.extract(jpeg(rotate_crop(marked, 5), 85), original=original)
    assert found.payload == PAYLOAD


ATTACKS = {
    "q75": lambda im: jpeg(im, 75),
    "half": lambda im: jpeg(
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90
    ),
    "crop25": lambda im: jpeg(crop_area(im, 0.25), 90),
    "crop80_q75": lambda im: jpeg(crop_area(im, 0.8), 75),
    "rotate2": lambda im: jpeg(rotate_crop(im, 2), 90),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG_PHOTOS)
def test_every_big_photo(marker: Watermarker, name: str) -> None:
    original = load_photo(name)
    clean = marker.embed(original, PAYLOAD)
    assert psnr(original, clean) >= 42.0
    marked = jpeg(clean, 92)
    for label, attack in ATTACKS.items():
        found = marker.extract(attack(marked))
        assert found.payload == PAYLOAD, f"{name}: {label}"
    assert marker.extract(jpeg(original, 92)).payload is None
    assert np.asarray(marked).shape == np.asarray(original).shape
