"""The order of the blind search: a first look before the full lattice search.

A marked copy is nearly always read with the lattice through the strongest peak of the
autocorrelation, so that is looked at first and read at once when its pilot is clear; the
full search is only built when the first look does not decode, and then gives exactly
the candidates it always gave.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _wm_support import jpeg, load_photo, record_stages
from PIL import Image

from app.watermark import Watermarker, _blind, _core
from app.watermark._lattice import FIRST, FULL, find_lattices, lattice_stages
from app.watermark._signal import residual

PAYLOAD = 0x5EA4C401


@pytest.fixture(scope="module")
def copy_q75(marker: Watermarker) -> Image.Image:
    photo = load_photo("mei_Nikon Coolpix P7000.webp")
    return jpeg(jpeg(marker.embed(photo, PAYLOAD), 92), 75)


def test_the_last_stage_is_the_whole_search(copy_q75: Image.Image) -> None:
    luma = np.asarray(copy_q75.convert("L"), np.float32)
    small, fx, _ = _blind.Pyramid(luma).at(1024 / max(luma.shape))
    res = residual(small, _blind.ANALYSIS_SIGMA)
    block = 8.0 * fx
    stages = list(lattice_stages(res, block=block))
    assert [name for _, name in stages] == [FIRST, FULL]
    first, everything = stages[0][0], stages[1][0]
    assert first
    expected = find_lattices(res, block=block)
    assert len(everything) == len(expected)
    for got, want in zip(everything, expected, strict=True):
        np.testing.assert_array_equal(got.v1, want.v1)
        np.testing.assert_array_equal(got.v2, want.v2)


def test_a_clear_mark_is_read_from_the_first_look(
    marker: Watermarker, copy_q75: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = record_stages(monkeypatch)
    found = marker.extract(copy_q75)
    assert found.payload == PAYLOAD
    # Read before the full search was asked for.
    assert batches == [FIRST]


def test_a_full_search_does_not_screen_the_first_look_again(
    other_marker: Watermarker, copy_q75: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    screened: list[_blind.Geometry] = []
    screen = _core.Keyring._screen

    def recording(self: _core.Keyring, pyramid: Any, geometry: Any, *args: Any, **kw: Any) -> Any:
        # The texture stage looks again, in a residual of its own (test_texture_stage.py).
        if kw.get("keep", True):
            screened.append(geometry)
        return screen(self, pyramid, geometry, *args, **kw)

    monkeypatch.setattr(_core.Keyring, "_screen", recording)
    monkeypatch.setattr(_core._blind, "scan_geometries", lambda pyramid: iter(()))
    # Under another key nothing decodes: the first look and the full search are screened.
    assert other_marker.extract(copy_q75).payload is None
    assert len(screened) > _blind.FIRST_LOOK
    for i, geometry in enumerate(screened):
        assert not any(_blind.repeats(geometry, earlier) for earlier in screened[:i])
