"""The keyed tile: which cells are pilot, which carry which bit, and their signs.

A tile is TILE x TILE cells. Every cell has a keyed pseudo-random sign (its chip). Pilot
cells always show their chip, so a detector that knows the key can find where a tile starts;
data cells show chip * (+1 for bit 1, -1 for bit 0). Each of the 127 channel bits owns
CELLS_PER_BIT cells scattered over the tile, so damage to one area costs every bit a little
instead of a few bits everything.

The tile is rendered at two samples per cell ("grid" resolution) with bilinear cells: the
pattern is a smooth surface through the cell centres, with no sharp cell edges that JPEG
would spend bits on or that the eye would catch as blocks.

All randomness comes from SHAKE-256 of a key-derived seed rather than numpy's generators,
whose streams may change between releases: a mark embedded today must read in ten years.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._codec import derive_key

TILE = 32
OVERSAMPLE = 2
CELLS = TILE * TILE
CELLS_PER_BIT = 6

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _stream(seed: bytes, label: bytes, n_bytes: int) -> bytes:
    return hashlib.shake_256(seed + label).digest(n_bytes)


def upsample_cells(cells: npt.NDArray[np.floating]) -> FloatArray:
    """Bilinear, cyclic: an (n, n) cell array to (2n, 2n) samples, cell centres on even samples."""
    c = cells.astype(np.float32)
    right = np.roll(c, -1, axis=1)
    down = np.roll(c, -1, axis=0)
    diag = np.roll(down, -1, axis=1)
    n0, n1 = c.shape
    out = np.empty((2 * n0, 2 * n1), dtype=np.float32)
    out[0::2, 0::2] = c
    out[0::2, 1::2] = (c + right) * 0.5
    out[1::2, 0::2] = (c + down) * 0.5
    out[1::2, 1::2] = (c + right + down + diag) * 0.25
    return out


@dataclass(frozen=True)
class TileLayout:
    """The keyed layout of one tile; the same for every image and payload under one key."""

    chips: npt.NDArray[np.float32]  # (TILE, TILE) of +-1
    pilot: npt.NDArray[np.bool_]  # (TILE, TILE)
    bit_of_cell: IntArray  # (TILE, TILE); -1 for pilot cells
    origin_key: bytes

    @classmethod
    def from_key(cls, key: bytes, n_bits: int) -> TileLayout:
        seed = derive_key(key, "tile")
        raw = np.frombuffer(_stream(seed, b"order", 8 * CELLS), dtype=">u8")
        order = np.argsort(raw, kind="stable")
        sign_bits = np.unpackbits(np.frombuffer(_stream(seed, b"chips", CELLS // 8), np.uint8))
        chips = np.where(sign_bits[:CELLS] == 1, 1.0, -1.0).astype(np.float32)
        n_data = n_bits * CELLS_PER_BIT
        if n_data >= CELLS:  # pragma: no cover - fixed parameters
            raise AssertionError("tile too small for the codeword")
        bit_of_cell = np.full(CELLS, -1, dtype=np.int64)
        bit_of_cell[order[:n_data]] = np.arange(n_data) % n_bits
        return cls(
            chips=chips.reshape(TILE, TILE),
            pilot=(bit_of_cell == -1).reshape(TILE, TILE),
            bit_of_cell=bit_of_cell.reshape(TILE, TILE),
            origin_key=derive_key(key, "origin"),
        )

    def origin(self, payload: int) -> tuple[int, int]:
        """Where (in cells) tiles start for this payload.

        Two downloads of one photo then differ everywhere, not just in the cells of the bits
        where their ids differ, which makes comparing copies less informative.
        """
        digest = hashlib.sha256(self.origin_key + payload.to_bytes(8, "big")).digest()
        return digest[0] % TILE, digest[1] % TILE

    def cell_values(self, bits: npt.NDArray[np.bool_]) -> FloatArray:
        """Cell amplitudes (+-1) of the tile carrying these channel bits."""
        signs = np.where(bits, 1.0, -1.0).astype(np.float32)
        data_sign = np.where(self.pilot, 1.0, signs[np.maximum(self.bit_of_cell, 0)])
        return (self.chips * data_sign).astype(np.float32)

    def pilot_values(self) -> FloatArray:
        return np.where(self.pilot, self.chips, 0.0).astype(np.float32)
