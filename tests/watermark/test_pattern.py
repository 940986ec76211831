"""The keyed tile layout."""

from __future__ import annotations

import numpy as np

from app.watermark._pattern import CELLS, CELLS_PER_BIT, TILE, TileLayout, upsample_cells


def test_layout_is_deterministic_and_key_dependent() -> None:
    a = TileLayout.from_key(b"a" * 32, 127)
    again = TileLayout.from_key(b"a" * 32, 127)
    b = TileLayout.from_key(b"b" * 32, 127)
    assert np.array_equal(a.chips, again.chips)
    assert np.array_equal(a.bit_of_cell, again.bit_of_cell)
    assert not np.array_equal(a.chips, b.chips)
    assert not np.array_equal(a.pilot, b.pilot)


def test_every_bit_owns_the_same_number_of_cells() -> None:
    layout = TileLayout.from_key(b"a" * 32, 127)
    counts = np.bincount(layout.bit_of_cell[~layout.pilot], minlength=127)
    assert np.all(counts == CELLS_PER_BIT)
    assert int(layout.pilot.sum()) == CELLS - 127 * CELLS_PER_BIT


def test_chips_are_balanced() -> None:
    layout = TileLayout.from_key(b"a" * 32, 127)
    assert abs(float(layout.chips.sum())) < 4 * np.sqrt(CELLS)


def test_origin_depends_on_payload_and_stays_in_the_tile() -> None:
    layout = TileLayout.from_key(b"a" * 32, 127)
    origins = {layout.origin(p) for p in range(200)}
    assert len(origins) > 150
    assert all(0 <= x < TILE and 0 <= y < TILE for x, y in origins)


def test_upsampling_keeps_cell_centres_and_interpolates_between() -> None:
    cells = np.arange(16, dtype=np.float32).reshape(4, 4)
    up = upsample_cells(cells)
    assert up.shape == (8, 8)
    assert np.array_equal(up[0::2, 0::2], cells)
    assert up[0, 1] == (cells[0, 0] + cells[0, 1]) / 2
    # Cyclic: the last half-cell blends back into the first.
    assert up[0, 7] == (cells[0, 3] + cells[0, 0]) / 2
