"""Perceptual hashes find a recompressed, resized copy and tell different photos apart."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from app.imaging import PerceptualHash, encode_jpeg, perceptual_hash


def _scene(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((1600, 1200), Image.Resampling.BICUBIC)


def _leaked_copy(image: Image.Image) -> Image.Image:
    """What a screenshot-and-repost does: shrink, blur a little, recompress hard."""
    smaller = image.resize((image.width * 2 // 5, image.height * 2 // 5))
    smaller = smaller.filter(ImageFilter.GaussianBlur(1))
    with Image.open(io.BytesIO(encode_jpeg(smaller, quality=40))) as copy:
        return copy.convert("RGB")


def test_hash_is_two_64_bit_hex_strings() -> None:
    fingerprint = perceptual_hash(_scene(1))
    assert len(fingerprint.phash) == 16
    assert len(fingerprint.dhash) == 16
    int(fingerprint.phash, 16)
    int(fingerprint.dhash, 16)


def test_same_picture_has_distance_zero() -> None:
    image = _scene(1)
    assert perceptual_hash(image).distance(perceptual_hash(image.copy())) == 0


def test_leaked_copy_is_close_and_other_photos_are_far() -> None:
    original = perceptual_hash(_scene(1))
    leaked = perceptual_hash(_leaked_copy(_scene(1)))
    others = [perceptual_hash(_scene(seed)) for seed in range(2, 8)]

    near = original.distance(leaked)
    assert near <= 12
    assert min(original.distance(other) for other in others) > 3 * near + 20


def test_grayscale_and_rgb_versions_hash_alike() -> None:
    image = _scene(3)
    assert perceptual_hash(image).distance(perceptual_hash(image.convert("L"))) <= 4


def test_hash_round_trips_through_text() -> None:
    fingerprint = perceptual_hash(_scene(4))
    assert PerceptualHash.from_string(str(fingerprint)) == fingerprint


def test_partial_distances_add_up() -> None:
    first = PerceptualHash(phash="0" * 16, dhash="f" * 16)
    second = PerceptualHash(phash="0" * 15 + "3", dhash="f" * 15 + "e")
    assert first.phash_distance(second) == 2
    assert first.dhash_distance(second) == 1
    assert first.distance(second) == 3


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 15, "0" * 17, "G" * 16])
def test_malformed_hashes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        PerceptualHash(phash=bad, dhash="0" * 16)


def test_unparseable_text_is_refused() -> None:
    with pytest.raises(ValueError, match="phash:dhash"):
        PerceptualHash.from_string("0" * 16)
