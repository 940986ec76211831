"""Cheap check that a file carries one known payload, at the geometry it was embedded with.

The download pipeline marks a photo and wants to know, before it sends the file, that the
mark it just made is there and says what it should. No search is needed: the file has the
size the embedder saw, so the embedding grid, the tile origin of this payload and every
cell's expected sign are known. The file is averaged down to that grid, high-passed,
folded over the tile period, and every cell is read in place.

Two statistics decide, both in noise deviations measured on the same fold:

- ``score``: correlation of the data cells with this payload's expected pattern at this
  payload's origin; the noise is the spread of that correlation over every other cyclic
  shift. Unmarked files and files marked under another key score like a standard normal.
- ``bit_errors``: the 6 cells of each of the 127 channel bits summed and compared with the
  expected codeword. Another payload sharing this origin (1 in 1024) differs in at least 21
  codeword bits (the BCH code's minimum distance), so no file can show 10 or fewer errors
  for both.

Accepted when score >= VERIFY_SCORE and bit_errors <= VERIFY_BIT_ERRORS; the arithmetic is
in docs/watermark.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import cv2
import numpy as np
import numpy.typing as npt

from ._codec import BCH_T
from ._embed import Grid, grid_luma
from ._pattern import OVERSAMPLE, TileLayout, upsample_cells
from ._signal import (
    PilotHit,
    Templates,
    cyclic_highpass,
    fold,
    read_cells,
    residual,
    soft_bits,
    whiten,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Data-cell score needed: a standard normal exceeds 6 with probability 1e-9.
VERIFY_SCORE = 6.0
# Bit errors allowed against the expected codeword: half the BCH minimum distance (21).
VERIFY_BIT_ERRORS = BCH_T


@dataclass(frozen=True, slots=True)
class Verification:
    """Whether a file carries the expected payload, and how clearly."""

    accepted: bool
    score: float  # data cells against the expected pattern, in noise deviations
    pilot_score: float  # pilot cells at this payload's origin, in noise deviations
    bit_errors: int  # channel bits whose cells disagree with the expected codeword

    def __bool__(self) -> bool:
        return self.accepted


def _shift_z(folded_fft: npt.NDArray[np.complex128], tile: F32) -> float:
    """Correlation at zero shift over the robust spread of every shift beyond the peak."""
    corr = np.real(np.fft.ifft2(folded_fft * np.conj(np.fft.fft2(tile))))
    n0, n1 = corr.shape
    yy = np.minimum(np.arange(n0), n0 - np.arange(n0))[:, None]
    xx = np.minimum(np.arange(n1), n1 - np.arange(n1))[None, :]
    rest = corr[(yy > 2) | (xx > 2)]
    centre = float(np.median(rest))
    spread = 1.4826 * float(np.median(np.abs(rest - centre))) + 1e-12
    return (float(corr[0, 0]) - centre) / spread


def verify_luma(
    luma: npt.NDArray[np.uint8],
    *,
    layout: TileLayout,
    tpl: Templates,
    cells: F32,
    bits: npt.NDArray[np.bool_],
    origin: tuple[int, int],
) -> Verification:
    """Verify an 8-bit luminance image against one payload's cells (see module doc)."""
    height, width = luma.shape
    grid = Grid.for_size(width, height)
    small = grid_luma(luma, grid)
    folded, _ = fold(whiten(residual(small)))
    spectrum = np.fft.fft2(folded)
    ox, oy = origin
    rolled = np.roll(cells, (oy, ox), axis=(0, 1))
    pilot_mask = np.roll(layout.pilot, (oy, ox), axis=(0, 1))
    data_tile = cyclic_highpass(upsample_cells(np.where(pilot_mask, 0.0, rolled)))
    pilot_tile = cyclic_highpass(upsample_cells(np.where(pilot_mask, rolled, 0.0)))
    score = _shift_z(spectrum, data_tile)
    pilot_score = _shift_z(spectrum, pilot_tile)
    # Read every cell in place: the tile starts `origin` cells into the grid.
    hit = PilotHit(pilot_score, 0, (float(oy * OVERSAMPLE), float(ox * OVERSAMPLE)))
    values = read_cells(folded, hit, tpl)
    signed = values * layout.chips
    data = ~layout.pilot
    sums = np.zeros(len(bits), dtype=np.float64)
    np.add.at(sums, layout.bit_of_cell[data], signed[data])
    errors = int(np.count_nonzero((sums > 0) != bits))
    accepted = score >= VERIFY_SCORE and errors <= VERIFY_BIT_ERRORS
    return Verification(accepted, score, pilot_score, errors)


def gray(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8)


# Candidates (the photo's known downloads) scored on a copy of the delivered size: a false
# match among K candidates must stay below CANDIDATE_FALSE_ALARM per query, as for the
# informed candidate search (docs/watermark.md).
CANDIDATE_FALSE_ALARM = 1e-10
# A candidate whose tile starts where another named one's does must beat it on the bits
# where their codewords differ (at least 21) by this many noise deviations.
SAME_ORIGIN_MARGIN = 3.0


def candidate_threshold(count: int) -> float:
    """Score (in noise deviations) a candidate needs when `count` are tried."""
    return -NormalDist().inv_cdf(CANDIDATE_FALSE_ALARM / max(1, count))


@dataclass(frozen=True, slots=True)
class Candidate:
    payload: int
    bits: npt.NDArray[np.bool_]
    cells: F32
    origin: tuple[int, int]


def colluders(
    luma: npt.NDArray[np.uint8],
    *,
    layout: TileLayout,
    tpl: Templates,
    n_bits: int,
    candidates: list[Candidate],
) -> list[tuple[int, float]]:
    """Candidates whose marks are present in a copy of the delivered size, strongest first.

    Each candidate is scored like verify's data score at its own origin. An averaged or
    cut-together copy shows every colluder's pattern at its origin; an innocent candidate
    scores like a standard normal. An innocent whose tile starts where a colluder's does
    (1 in 1024) shares that colluder's cells and could inherit part of its score, so among
    candidates of one origin only the one that wins on the bits where they differ counts.
    """
    if not candidates:
        return []
    height, width = luma.shape
    folded, _ = fold(whiten(residual(grid_luma(luma, Grid.for_size(width, height)))))
    spectrum = np.fft.fft2(folded)
    threshold = candidate_threshold(len(candidates))
    passed: dict[tuple[int, int], list[tuple[float, Candidate]]] = {}
    for cand in candidates:
        ox, oy = cand.origin
        rolled = np.roll(cand.cells, (oy, ox), axis=(0, 1))
        pilot_mask = np.roll(layout.pilot, (oy, ox), axis=(0, 1))
        score = _shift_z(
            spectrum, cyclic_highpass(upsample_cells(np.where(pilot_mask, 0.0, rolled)))
        )
        if score >= threshold:
            passed.setdefault(cand.origin, []).append((score, cand))
    named: list[tuple[int, float]] = []
    for (ox, oy), group in passed.items():
        group.sort(key=lambda item: -item[0])
        score, best = group[0]
        if len(group) > 1:
            hit = PilotHit(0.0, 0, (float(oy * OVERSAMPLE), float(ox * OVERSAMPLE)))
            soft = soft_bits(read_cells(folded, hit, tpl), layout, n_bits).values
            signs = np.where(best.bits, 1.0, -1.0)
            if any(
                _differing_z(soft, signs, best.bits != other.bits) < SAME_ORIGIN_MARGIN
                for _, other in group[1:]
            ):
                continue
        named.append((best.payload, score))
    named.sort(key=lambda item: -item[1])
    return named


def _differing_z(soft: F64, signs: F64, differ: npt.NDArray[np.bool_]) -> float:
    count = int(np.count_nonzero(differ))
    if count == 0:
        return 0.0
    return float(np.sum(soft[differ] * signs[differ]) / np.sqrt(count))
