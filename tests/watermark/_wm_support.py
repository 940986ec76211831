"""Helpers for the watermark tests: keys, synthetic photos, real photos, JPEG round trips."""

from __future__ import annotations

import io
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from app.watermark import _blind, _core
from tests.support.photos import photo_path

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))


def synthetic_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth shapes plus texture at several scales, tinted: a stand-in for a real photo."""
    rng = np.random.default_rng(seed)
    luma = np.full((height, width), 128.0, dtype=np.float32)
    for sigma, amp in ((40.0, 60.0), (10.0, 25.0), (3.0, 12.0), (1.0, 6.0)):
        noise = cv2.GaussianBlur(
            rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), sigma
        )
        luma += amp * noise / (float(noise.std()) + 1e-9)
    rgb = np.stack([luma, luma * 0.9 + 10.0, luma * 0.8 + 20.0], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return 10.0 * np.log10(255.0**2 / mse)


def load_photo(name: str) -> Image.Image:
    """A corpus photo, upright and RGB; a photo that is not in the corpus fails the test."""
    path = photo_path(name)
    if path.suffix.lower() in {".heic", ".avif"}:
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def record_stages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stages of the blind search (FIRST, FULL, TEXTURE), in the order reads ask for
    their batches from now on."""
    stages: list[str] = []
    by_level = _blind.geometries_by_level

    def recording(pyramid: _blind.Pyramid) -> Iterator[_blind.Batch]:
        for batch in by_level(pyramid):
            stages.append(batch.stage)
            yield batch

    monkeypatch.setattr(_core._blind, "geometries_by_level", recording)
    return stages
