"""Watermarker.verify: the download pipeline's cheap check of the mark it just made."""

from __future__ import annotations

import numpy as np
import pytest
from _wm_support import jpeg, synthetic_photo
from PIL import Image

from app.watermark import InvalidPayload, UnsupportedImage, Verification, Watermarker

PAYLOAD = 0x5EED1234


@pytest.fixture(scope="module")
def original() -> Image.Image:
    return synthetic_photo(1600, 1200, seed=11)


@pytest.fixture(scope="module")
def marked(marker: Watermarker, original: Image.Image) -> Image.Image:
    return jpeg(marker.embed(original, PAYLOAD), 92)


def test_the_marked_file_is_accepted(marker: Watermarker, marked: Image.Image) -> None:
    result = marker.verify(marked, PAYLOAD)
    assert isinstance(result, Verification)
    assert result.accepted
    assert bool(result)
    assert result.score > 15.0
    assert result.bit_errors == 0


def test_an_array_is_accepted_too(marker: Watermarker, marked: Image.Image) -> None:
    assert marker.verify(np.asarray(marked), PAYLOAD).accepted


def test_a_recompressed_file_is_still_accepted(marker: Watermarker, marked: Image.Image) -> None:
    assert marker.verify(jpeg(marked, 60), PAYLOAD).accepted


def test_an_unmarked_file_is_rejected(marker: Watermarker, original: Image.Image) -> None:
    result = marker.verify(jpeg(original, 92), PAYLOAD)
    assert not result.accepted
    assert result.score < 6.0


def test_a_file_marked_with_another_payload_is_rejected(
    marker: Watermarker, marked: Image.Image
) -> None:
    for other in (PAYLOAD + 1, PAYLOAD ^ 0x80000000, 0):
        result = marker.verify(marked, other)
        assert not result.accepted, other


def test_another_payload_at_the_same_origin_is_rejected_by_its_bit_errors(
    marker: Watermarker, original: Image.Image
) -> None:
    # Find two payloads whose tiles start at the same cell: only the codeword tells them
    # apart, and the BCH distance (at least 21 bits) keeps one of them far from the file.
    layout = marker._layout
    first = 1
    twin = next(p for p in range(2, 200_000) if layout.origin(p) == layout.origin(first))
    marked = jpeg(marker.embed(original, first), 92)
    assert marker.verify(marked, first).accepted
    result = marker.verify(marked, twin)
    assert not result.accepted
    assert result.bit_errors > 10


def test_a_file_marked_under_another_key_is_rejected(
    marker: Watermarker, other_marker: Watermarker, original: Image.Image
) -> None:
    marked = jpeg(other_marker.embed(original, PAYLOAD), 92)
    assert other_marker.verify(marked, PAYLOAD).accepted
    result = marker.verify(marked, PAYLOAD)
    assert not result.accepted
    assert result.score < 6.0


def test_invalid_input_is_refused(marker: Watermarker, marked: Image.Image) -> None:
    with pytest.raises(InvalidPayload):
        marker.verify(marked, -1)
    with pytest.raises(UnsupportedImage):
        marker.verify(np.zeros((200, 200), np.uint8), PAYLOAD)
