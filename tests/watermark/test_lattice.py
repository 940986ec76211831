"""Peak interpolation and the sub-multiple search of the lattice finder.

A randomised copy once made the blind reader hang: a nearly flat ridge in the
autocorrelation gave a parabola of almost no curvature, its vertex landed 45 pixels away
from the highest sample, exactly back on the vector being halved, and the search for
shorter tile sides went round for ever.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.watermark._lattice import Autocorrelation, _submultiples

SIZE = 129
CENTRE = SIZE // 2


def _acf() -> np.ndarray:
    return np.zeros((SIZE, SIZE), np.float32)


def test_peak_at_the_window_edge_stays_within_a_pixel_of_the_highest_sample() -> None:
    values = _acf()
    # Asked about x = 10 (window 9..11): the highest sample in the window is at 11, and its
    # outer neighbour at 12, outside the window, is higher still. The parabola through
    # (0, 5, 9.99) has its vertex hundreds of pixels away.
    values[CENTRE, CENTRE + 11] = 5.0
    values[CENTRE, CENTRE + 12] = 9.99
    acf = Autocorrelation(values, CENTRE, CENTRE)

    x, y, height = acf.at(10.0, 0.0, radius=1)

    assert height == pytest.approx(5.0)
    assert 10.0 <= x <= 12.0
    assert y == pytest.approx(0.0)


def test_a_true_peak_is_still_interpolated_between_samples() -> None:
    values = _acf()
    values[CENTRE, CENTRE + 19 : CENTRE + 22] = [6.0, 8.0, 7.0]
    acf = Autocorrelation(values, CENTRE, CENTRE)

    x, _, _ = acf.at(20.0, 0.0)

    # Vertex of the parabola through (6, 8, 7): 20 + 0.5 * (6 - 7) / (6 - 16 + 7).
    assert x == pytest.approx(20.0 + 1 / 6)


class _Echo(Autocorrelation):
    """An autocorrelation whose every peak search answers with twice the point asked."""

    def at(self, x: float, y: float, radius: int = 1) -> tuple[float, float, float]:
        return 2.0 * x, 2.0 * y, 20.0


def test_submultiple_search_ends_when_the_answer_is_not_shorter() -> None:
    chain = _submultiples(_Echo(_acf(), CENTRE, CENTRE), np.array([0.0, 91.0]), 20.0)

    assert len(chain) == 1


def test_submultiples_are_found_and_each_is_shorter(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _acf()
    for k in (1, 2, 4):
        values[CENTRE + 12 * k, CENTRE] = 30.0 / k
    acf = Autocorrelation(values, CENTRE, CENTRE)
    monkeypatch.setattr("app.watermark._lattice.MIN_PERIOD", 10)

    chain = _submultiples(acf, np.array([0.0, 48.0]), 7.5)

    lengths = [float(np.hypot(*v)) for v, _ in chain]
    assert lengths == pytest.approx([48.0, 24.0, 12.0])
