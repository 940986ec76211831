"""Several downloads of one photo averaged or cut together never name a third party."""

from __future__ import annotations

import numpy as np
import pytest
from _wm_support import jpeg, synthetic_photo
from PIL import Image

from app.watermark import Watermarker

COLLUDERS = (0x11111111, 0x22222222, 0x33333333)
INNOCENTS = tuple(range(7000, 7060))


@pytest.fixture(scope="module")
def copies(marker: Watermarker) -> list[np.ndarray]:
    photo = synthetic_photo(1600, 1200, seed=31)
    return [np.asarray(jpeg(marker.embed(photo, p), 92), np.float32) for p in COLLUDERS]


def _average(arrays: list[np.ndarray]) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(sum(arrays) / len(arrays)), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("count", [2, 3])
def test_averaged_copies_name_colluders_only(
    marker: Watermarker, copies: list[np.ndarray], count: int
) -> None:
    suspect = jpeg(_average(copies[:count]), 90)
    found = marker.extract(suspect)
    assert found.payload in (None, *COLLUDERS[:count])
    named = marker.colluders(suspect, [*INNOCENTS, *COLLUDERS])
    assert {p for p, _ in named} == set(COLLUDERS[:count])


def test_copies_cut_together_name_a_colluder(marker: Watermarker, copies: list[np.ndarray]) -> None:
    left, right = copies[0].copy(), copies[1]
    left[:, left.shape[1] // 2 :] = right[:, right.shape[1] // 2 :]
    suspect = jpeg(Image.fromarray(left.astype(np.uint8)), 90)
    assert marker.extract(suspect).payload in COLLUDERS[:2]
    named = {p for p, _ in marker.colluders(suspect, [*INNOCENTS, *COLLUDERS])}
    assert named <= set(COLLUDERS[:2])
    assert named


def test_an_unmarked_copy_names_nobody(marker: Watermarker) -> None:
    photo = jpeg(synthetic_photo(1600, 1200, seed=31), 90)
    assert marker.colluders(photo, [*INNOCENTS, *COLLUDERS]) == []


def test_an_innocent_sharing_a_colluders_origin_is_not_named(
    marker: Watermarker, copies: list[np.ndarray]
) -> None:
    # Its tile starts where the first colluder's does, so it shares that colluder's data
    # cells wherever their codewords agree; only the colluder may be named at that origin.
    origin = marker._layout.origin(COLLUDERS[0])
    twin = next(p for p in range(1, 300_000) if marker._layout.origin(p) == origin)
    suspect = jpeg(_average(copies[:2]), 90)
    named = {p for p, _ in marker.colluders(suspect, [twin, *COLLUDERS[:2]])}
    assert twin not in named
    assert COLLUDERS[0] in named
