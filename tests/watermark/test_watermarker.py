"""End to end on synthetic photos: embed, attack, extract."""

from __future__ import annotations

import numpy as np
import pytest
from _wm_support import KEY, jpeg, psnr, synthetic_photo
from PIL import Image

from app.watermark import (
    PAYLOAD_BITS,
    Extraction,
    InvalidKey,
    InvalidPayload,
    Keyring,
    Watermarker,
    WatermarkError,
)

PAYLOAD = 0xC0FFEE42


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return synthetic_photo(1280, 960, seed=5)


@pytest.fixture(scope="module")
def marked(marker: Watermarker, original: Image.Image) -> Image.Image:
    return marker.embed(original, PAYLOAD)


def test_payload_bits_is_at_least_32(marker: Watermarker) -> None:
    assert marker.payload_bits >= 32
    assert marker.payload_bits == PAYLOAD_BITS


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 31])
def test_short_keys_are_refused(key: bytes) -> None:
    with pytest.raises(InvalidKey):
        Watermarker(key)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Watermarker(key)


def test_key_is_not_shown_in_repr(marker: Watermarker) -> None:
    assert KEY.hex() not in repr(marker)
    assert str(KEY) not in repr(marker)


@pytest.mark.parametrize("payload", [-1, 2**32, 2**40, 1.5, "7", True, None])
def test_payload_out_of_range_is_refused(
    marker: Watermarker, original: Image.Image, payload: object
) -> None:
    with pytest.raises(InvalidPayload):
        marker.embed(original, payload)  # type: ignore[arg-type]


def test_embed_keeps_size_returns_rgb_and_stays_close(
    original: Image.Image, marked: Image.Image
) -> None:
    assert marked.size == original.size
    assert marked.mode == "RGB"
    assert psnr(original, marked) >= 42.0
    assert not np.array_equal(np.asarray(original), np.asarray(marked))


def test_embed_changes_luminance_only(original: Image.Image, marked: Image.Image) -> None:
    # The same amount is added to R, G and B: chroma differences are untouched except
    # where a channel clipped at 0 or 255.
    a = np.asarray(original, dtype=np.int16)
    b = np.asarray(marked, dtype=np.int16)
    d = b - a
    unclipped = np.all((b > 0) & (b < 255), axis=-1)
    assert np.array_equal(d[..., 0][unclipped], d[..., 1][unclipped])
    assert np.array_equal(d[..., 0][unclipped], d[..., 2][unclipped])


def test_embed_is_deterministic(
    marker: Watermarker, original: Image.Image, marked: Image.Image
) -> None:
    again = Watermarker(KEY).embed(original, PAYLOAD)
    assert np.array_equal(np.asarray(again), np.asarray(marked))


def test_different_payloads_give_different_marks(
    marker: Watermarker, original: Image.Image, marked: Image.Image
) -> None:
    other = marker.embed(original, PAYLOAD + 1)
    assert not np.array_equal(np.asarray(other), np.asarray(marked))


def test_untouched_copy_reads_back_exactly(marker: Watermarker, marked: Image.Image) -> None:
    found = marker.extract(marked)
    assert isinstance(found, Extraction)
    assert found.payload == PAYLOAD
    assert found.method == "blind"
    assert 0.5 < found.confidence <= 1.0


@pytest.mark.parametrize("quality", [50, 75, 95])
def test_jpeg_copy_reads_back_exactly(
    marker: Watermarker, marked: Image.Image, quality: int
) -> None:
    assert marker.extract(jpeg(marked, quality)).payload == PAYLOAD


def test_half_size_copy_reads_back(marker: Watermarker, marked: Image.Image) -> None:
    w, h = marked.size
    small = jpeg(marked.resize((w // 2, h // 2), Image.Resampling.LANCZOS), 85)
    assert marker.extract(small).payload == PAYLOAD


def test_quarter_area_crop_reads_back(marker: Watermarker, marked: Image.Image) -> None:
    w, h = marked.size
    crop = jpeg(marked.crop((w // 5, h // 3, w // 5 + w // 2, h // 3 + h // 2)), 85)
    assert marker.extract(crop).payload == PAYLOAD


def test_rotated_and_cropped_copy_reads_back(marker: Watermarker, marked: Image.Image) -> None:
    w, h = marked.size
    turned = marked.rotate(3, resample=Image.Resampling.BICUBIC).crop((70, 70, w - 70, h - 70))
    assert marker.extract(jpeg(turned, 85)).payload == PAYLOAD


def test_brightness_and_contrast_changes_read_back(
    marker: Watermarker, marked: Image.Image
) -> None:
    a = np.asarray(marked, dtype=np.float32)
    brighter = Image.fromarray(np.clip(a * 1.2, 0, 255).astype(np.uint8))
    flatter = Image.fromarray(np.clip((a - 128) * 0.8 + 128, 0, 255).astype(np.uint8))
    assert marker.extract(jpeg(brighter, 90)).payload == PAYLOAD
    assert marker.extract(jpeg(flatter, 90)).payload == PAYLOAD


def test_unmarked_photo_is_absent(marker: Watermarker, original: Image.Image) -> None:
    found = marker.extract(jpeg(original, 90))
    assert found.payload is None
    assert found.confidence == 0.0


def test_wrong_key_finds_nothing(other_marker: Watermarker, marked: Image.Image) -> None:
    assert other_marker.extract(jpeg(marked, 90)).payload is None


def test_keyring_tries_every_kept_key(marked: Image.Image) -> None:
    ring = Keyring({"2024": b"\x01" * 32, "2025": KEY, "2026": b"\x02" * 40})
    found = ring.extract(jpeg(marked, 90))
    assert found.payload == PAYLOAD
    assert found.key_version == "2025"


def test_keyring_without_the_key_finds_nothing(marked: Image.Image) -> None:
    ring = Keyring({"a": b"\x01" * 32, "b": b"\x02" * 32})
    assert ring.extract(jpeg(marked, 90)).payload is None


def test_empty_keyring_is_refused() -> None:
    with pytest.raises(InvalidKey):
        Keyring({})


def test_informed_extraction_with_the_original(
    marker: Watermarker, original: Image.Image, marked: Image.Image
) -> None:
    w, h = marked.size
    turned = marked.rotate(-4, resample=Image.Resampling.BICUBIC).crop((90, 90, w - 90, h - 90))
    found = marker.extract(jpeg(turned, 80), original=original)
    assert found.payload == PAYLOAD
    assert found.method == "informed"


def test_informed_small_region(
    marker: Watermarker, original: Image.Image, marked: Image.Image
) -> None:
    region = jpeg(marked.crop((400, 300, 912, 812)), 80)
    found = marker.extract(region, original=original)
    assert found.payload == PAYLOAD


def test_informed_unmarked_copy_is_absent(marker: Watermarker, original: Image.Image) -> None:
    found = marker.extract(jpeg(original, 85), original=original)
    assert found.payload is None


def test_candidates_never_name_a_download_that_is_not_marked(
    marker: Watermarker, original: Image.Image, marked: Image.Image
) -> None:
    small = jpeg(marked.crop((500, 350, 700, 550)), 50)
    others = list(range(1000, 1040))
    with_true = marker.extract(small, original=original, candidates=[*others, PAYLOAD])
    assert with_true.payload == PAYLOAD
    # The authentic mark still decodes when its id is not among the candidates; a wrong
    # candidate is never returned.
    without = marker.extract(small, original=original, candidates=others)
    assert without.payload in (PAYLOAD, None)


def test_errors_are_value_errors() -> None:
    assert issubclass(WatermarkError, ValueError)
    assert issubclass(InvalidPayload, WatermarkError)


def test_invalid_candidates_are_refused(marker: Watermarker, original: Image.Image) -> None:
    with pytest.raises(InvalidPayload):
        marker.extract(original, original=original, candidates=[5, -1])
