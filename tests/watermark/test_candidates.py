"""Scoring a photo's known downloads when the mark is too weak to decode on its own."""

from __future__ import annotations

import numpy as np
import pytest

from app.watermark import Watermarker
from app.watermark._core import candidate_threshold
from app.watermark._informed import DIFF_SIGMA
from app.watermark._pattern import upsample_cells
from app.watermark._signal import cyclic_highpass

PAYLOAD = 987654321


def expected_fold(marker: Watermarker, payload: int) -> np.ndarray:
    cells = marker._layout.cell_values(marker._codec.encode(payload))
    ox, oy = marker._layout.origin(payload)
    return cyclic_highpass(upsample_cells(np.roll(cells, (oy, ox), axis=(0, 1))), DIFF_SIGMA)


def weak_fold(marker: Watermarker, payload: int, amplitude: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (64, 64)).astype(np.float32)
    return (amplitude * expected_fold(marker, payload) + noise).astype(np.float32)


def test_threshold_grows_with_the_number_of_candidates() -> None:
    assert 6.0 < candidate_threshold(1) < candidate_threshold(100) < candidate_threshold(10_000)


@pytest.mark.parametrize("seed", range(5))
def test_weak_mark_names_the_right_candidate(marker: Watermarker, seed: int) -> None:
    folded = weak_fold(marker, PAYLOAD, amplitude=0.3, seed=seed)
    # Too weak to decode alone ...
    assert marker._read_informed(folded, None).payload is None
    # ... but unmistakable against each known download's exact pattern.
    candidates = [*range(5000, 5100), PAYLOAD]
    found = marker._read_informed(folded, candidates)
    assert found.payload == PAYLOAD


@pytest.mark.parametrize("seed", range(5))
def test_weak_mark_of_another_download_names_nobody(marker: Watermarker, seed: int) -> None:
    folded = weak_fold(marker, PAYLOAD, amplitude=0.3, seed=seed)
    assert marker._read_informed(folded, list(range(5000, 5100))).payload is None


def test_noise_names_nobody(marker: Watermarker) -> None:
    rng = np.random.default_rng(1)
    candidates = list(range(200))
    for _ in range(15):
        folded = rng.normal(0, 1, (64, 64)).astype(np.float32)
        assert marker._read_informed(folded, candidates).payload is None
