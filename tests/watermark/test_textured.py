"""Blind reading on photos whose own texture is nearly periodic, and on stretched copies.

The rendered photos of tests/data/photos/textured/ (see its SOURCES.md) have checks, mesh,
tiles, boards and needles whose periods come close to simple ratios of the tile's; the
lattice search used to lock onto them. One attack per photo keeps this quick; the
benchmark runs every attack on every photo.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from _wm_support import jpeg
from PIL import Image

from app.watermark import Watermarker
from tests.support.photos import TEXTURED_DIR

PAYLOAD = 0x7E57ED01


def _scale(fx: float, fy: float) -> Callable[[Image.Image], Image.Image]:
    def attack(image: Image.Image) -> Image.Image:
        w, h = image.size
        return image.resize((round(w * fx), round(h * fy)), Image.Resampling.LANCZOS)

    return attack


def _shear(image: Image.Image) -> Image.Image:
    w, h = image.size
    t = math.tan(math.radians(3.0))
    m = np.array([[1.0, t, -t * h / 2.0], [0.0, 1.0, 0.0]])
    out = cv2.warpAffine(np.asarray(image), m, (w, h), flags=cv2.INTER_CUBIC)
    margin = math.ceil(t * h / 2.0) + 2
    return Image.fromarray(out).crop((margin, 0, w - margin, h))


def _quarter(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.crop((w // 6, h // 4, w // 6 + w // 2, h // 4 + h // 2))


def _small(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((600, round(600 * h / w)), Image.Resampling.LANCZOS)


CASES: dict[str, tuple[str, Callable[[Image.Image], Image.Image]]] = {
    "gingham_uniform.jpg": ("100% x 90%", _scale(1.0, 0.9)),
    "tiled_wall.jpg": ("90% x 100%", _scale(0.9, 1.0)),
    "gym_floor.jpg": ("110% x 100%", _scale(1.1, 1.0)),
    "conifer_needles.jpg": ("shear 3 degrees", _shear),
    "grass_lawn.jpg": ("600 px wide", _small),
    # The fence after resizes, turns and stretches: test_texture_stage.py.
    "chain_link_fence.jpg": ("quarter crop", _quarter),
}


@pytest.mark.parametrize("name", list(CASES))
def test_textured_photo_reads_blind(marker: Watermarker, name: str) -> None:
    label, attack = CASES[name]
    with Image.open(TEXTURED_DIR / name) as opened:
        photo = opened.convert("RGB")
    marked = jpeg(marker.embed(photo, PAYLOAD), 92)
    found = marker.extract(jpeg(attack(marked), 90))
    assert found.payload == PAYLOAD, f"{name}: {label}"


def test_unmarked_texture_is_absent(marker: Watermarker) -> None:
    with Image.open(TEXTURED_DIR / "chain_link_fence.jpg") as opened:
        assert marker.extract(jpeg(opened.convert("RGB"), 90)).payload is None
