"""Detector building blocks: residual, folding, pilot search and reading cells.

Everything here works on "grid" arrays: luminance resampled so that one cell is two samples
and tiles are axis-aligned, i.e. after the geometry has been undone. The tile period on the
grid is PERIOD = 2 * TILE samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

from ._pattern import CELLS_PER_BIT, OVERSAMPLE, TILE, TileLayout, upsample_cells

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
B8 = npt.NDArray[np.bool_]

PERIOD = TILE * OVERSAMPLE
# High-pass used as the denoiser: the residual keeps detail finer than ~1.5 samples, where the
# cell pattern lives and natural images have little energy.
RESIDUAL_SIGMA = 1.5
# Local energy normalisation: a strong edge must not outvote a hundred quiet cells.
NORMALISE_SIGMA = 4.0
CLIP = 3.0
BUSY_RMS = 2.0


def residual(image: F32, sigma: float = RESIDUAL_SIGMA, normalise: float = NORMALISE_SIGMA) -> F32:
    """High-pass, locally normalised (over about `normalise` pixels) and clipped: the
    'noise' that carries the mark."""
    high = image - cv2.GaussianBlur(image, (0, 0), sigma)
    energy = cv2.GaussianBlur(high * high, (0, 0), normalise)
    rms = np.sqrt(energy) + 1.0
    out = high / rms
    if BUSY_RMS > 0:
        out *= np.minimum(1.0, BUSY_RMS / rms)
    return np.clip(out, -CLIP, CLIP).astype(np.float32)


# Spectral flattening of a residual before it is folded: the spectrum is divided by a smooth
# estimate of itself (geometric mean over a WHITEN_BOX-bin neighbourhood) and any bin still
# stronger than WHITEN_CLIP times that estimate is cut down to it. The photo's own periodic
# structure (tiled walls, checked fabric, fences, floor boards) lives in a few very strong
# spectral lines that would otherwise survive folding and drown the pilot; the mark spreads
# over thousands of weak lines and loses almost nothing.
#
# The estimate is the geometric mean *times* _LOG_BIAS, where dividing by it would give the
# local mean power: it sits at about 0.32 of the mean, so WHITEN_CLIP caps every bin at
# about 1.26 times the local mean (roughly the strongest quarter of a noise spectrum is cut
# down). The reader was tuned, and every benchmark run, with the constants as they stand;
# they are described here, not changed.
WHITEN_BOX = 15
WHITEN_CLIP = 4.0
# exp(-Euler gamma): the mean of log(exponential) is biased by -gamma.
_LOG_BIAS = 0.5615


def whiten(res: F32) -> F32:
    """Flatten the residual's spectrum and clip its strongest lines; unit variance out."""
    h, w = res.shape
    if min(h, w) < 2 * WHITEN_BOX:
        return res
    spec = sfft.rfft2(res, workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32)
    power += np.float32(1e-6 * (float(power.mean()) + 1e-12))
    box = (WHITEN_BOX, WHITEN_BOX)
    log_power = np.log(power)
    level = np.exp(cv2.blur(cv2.blur(log_power, box), box)) * np.float32(_LOG_BIAS)
    gain = np.float32(1.0) / np.sqrt(np.maximum(level, power / np.float32(WHITEN_CLIP)))
    out = sfft.irfft2(spec * gain, s=(h, w), workers=1)
    return np.asarray(out / (float(out.std()) + 1e-12), dtype=np.float32)


def cyclic_highpass(tile: F32, sigma: float = RESIDUAL_SIGMA) -> F32:
    """The same Gaussian high-pass as residual(), for a periodic tile."""
    n0, n1 = tile.shape
    big = np.tile(tile, (3, 3))
    high = big - cv2.GaussianBlur(big, (0, 0), sigma)
    return np.ascontiguousarray(high[n0 : 2 * n0, n1 : 2 * n1]).astype(np.float32)


# The eight ways a square tile can be turned or mirrored: a copy rotated by 90 degrees or
# flipped still has a square lattice, and folding cannot tell which corner is which.
ORIENTATIONS = range(8)


def dihedral(tile: F32, index: int) -> F32:
    out = np.rot90(tile, index % 4)
    if index >= 4:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def undo_dihedral(tile: F32, index: int) -> F32:
    out = tile[:, ::-1] if index >= 4 else tile
    return np.ascontiguousarray(np.rot90(out, -(index % 4)))


@dataclass(frozen=True)
class Templates:
    """FFTs (conjugated) of the pilot's residual on the grid, in each orientation."""

    pilot_fft: tuple[npt.NDArray[np.complex64], ...]
    pilot_stack: npt.NDArray[np.complex64]  # the same, stacked (orientation, y, x)
    cell_fft: npt.NDArray[np.complex128]


@cache
def _cell_fft(sigma: float) -> npt.NDArray[np.complex128]:
    one = np.zeros((TILE, TILE), dtype=np.float32)
    one[0, 0] = 1.0
    return np.conj(np.fft.fft2(cyclic_highpass(upsample_cells(one), sigma)))


def templates(layout: TileLayout, sigma: float = RESIDUAL_SIGMA) -> Templates:
    """Templates for a residual high-passed with this sigma."""
    pilot = cyclic_highpass(upsample_cells(layout.pilot_values()), sigma)
    # Template as it appears on a grid whose content is turned by orientation o: the
    # correlation peak is then an offset in the grid's own frame, which the geometry
    # refinement needs.
    ffts = tuple(
        np.conj(np.fft.fft2(undo_dihedral(pilot, o))).astype(np.complex64) for o in ORIENTATIONS
    )
    return Templates(ffts, np.stack(ffts), _cell_fft(sigma))


def fold(grid: F32, valid: B8 | None = None) -> tuple[F32, float]:
    """Average the grid over the tile period; returns the folded tile and the sample count."""
    h, w = grid.shape
    ph = -(-h // PERIOD) * PERIOD
    pw = -(-w // PERIOD) * PERIOD
    acc = np.zeros((ph, pw), dtype=np.float32)
    cnt = np.zeros((ph, pw), dtype=np.float32)
    if valid is None:
        acc[:h, :w] = grid
        cnt[:h, :w] = 1.0
    else:
        np.multiply(grid, valid, out=acc[:h, :w])
        cnt[:h, :w] = valid
    # Sum whole tile rows first, then tile columns: two cheap reductions over leading axes.
    total = acc.reshape(ph // PERIOD, PERIOD, pw).sum(axis=0)
    total = total.reshape(PERIOD, pw // PERIOD, PERIOD).sum(axis=1)
    count = cnt.reshape(ph // PERIOD, PERIOD, pw).sum(axis=0)
    count = count.reshape(PERIOD, pw // PERIOD, PERIOD).sum(axis=1)
    folded = total / np.maximum(count, 1.0)
    return folded.astype(np.float32), float(count.sum())


@dataclass(frozen=True, slots=True)
class PilotHit:
    score: float  # peak height in robust standard deviations
    orientation: int
    offset: tuple[float, float]  # (y, x) in samples, sub-sample precision


def _peak_subsample(corr: F64, iy: int, ix: int) -> tuple[float, float]:
    n0, n1 = corr.shape

    def parabola(minus: float, mid: float, plus: float) -> float:
        denom = minus - 2.0 * mid + plus
        return 0.0 if denom >= 0 else float(np.clip(0.5 * (minus - plus) / denom, -0.5, 0.5))

    dy = parabola(corr[(iy - 1) % n0, ix], corr[iy, ix], corr[(iy + 1) % n0, ix])
    dx = parabola(corr[iy, (ix - 1) % n1], corr[iy, ix], corr[iy, (ix + 1) % n1])
    return iy + dy, ix + dx


def pilot_correlation(folded: F32, tpl: Templates, orientation: int) -> F64:
    """Cyclic cross-correlation; a peak at (y, x) means folded[n + (y, x)] ~ template[n]."""
    spectrum = sfft.fft2(folded, workers=1)
    return np.asarray(
        sfft.ifft2(spectrum * tpl.pilot_fft[orientation], workers=1).real, dtype=np.float64
    )


def _robust_z(corr: F64, iy: int, ix: int, total: float, total_sq: float) -> float:
    """Peak height over the spread of everything but the peak and its bilinear shoulders."""
    n0, n1 = corr.shape
    rows = [(iy + d) % n0 for d in range(-2, 3)]
    cols = [(ix + d) % n1 for d in range(-2, 3)]
    window = corr[np.ix_(rows, cols)]
    n = corr.size - window.size
    mean = (total - float(window.sum())) / n
    var = (total_sq - float((window * window).sum())) / n - mean * mean
    return (float(corr[iy, ix]) - mean) / (math.sqrt(max(var, 0.0)) + 1e-12)


def find_pilot(folded: F32, tpl: Templates, orientations: Iterable[int] = ORIENTATIONS) -> PilotHit:
    """Best tile offset and orientation, by correlation with the keyed pilot.

    All orientations in one batched FFT: this runs for every lattice hypothesis and every
    scan step, hundreds of times per read.
    """
    picked = list(orientations)
    if not picked:  # pragma: no cover - orientations is never empty
        raise ValueError("no orientation to search")
    spectrum = sfft.fft2(folded, workers=1)
    stack = tpl.pilot_stack if len(picked) == len(ORIENTATIONS) else tpl.pilot_stack[picked]
    corr = sfft.ifft2(spectrum[None] * stack, axes=(1, 2), workers=1).real
    k, n0, n1 = corr.shape
    flat = corr.reshape(k, -1)
    peak_at = np.argmax(flat, axis=1)
    iy, ix = np.divmod(peak_at, n1)
    offs = np.arange(-2, 3)
    rows = (iy[:, None] + offs[None, :]) % n0
    cols = (ix[:, None] + offs[None, :]) % n1
    window = corr[np.arange(k)[:, None, None], rows[:, :, None], cols[:, None, :]]
    n = n0 * n1 - window[0].size
    mean = (flat.sum(axis=1) - window.sum(axis=(1, 2))) / n
    var = ((flat * flat).sum(axis=1) - (window * window).sum(axis=(1, 2))) / n - mean * mean
    peak = flat[np.arange(k), peak_at]
    scores = (peak - mean) / (np.sqrt(np.maximum(var, 0.0)) + 1e-12)
    best = int(np.argmax(scores))
    sub = _peak_subsample(np.asarray(corr[best], np.float64), int(iy[best]), int(ix[best]))
    return PilotHit(float(scores[best]), picked[best], sub)


def other_peaks(folded: F32, tpl: Templates, hit: PilotHit, count: int) -> list[PilotHit]:
    """The next strongest pilot peaks in the hit's orientation, away from the hit itself.

    A copy averaged or cut together from several downloads holds several tiles, each at its
    payload's own origin: each shows as its own pilot peak in the one fold.
    """
    corr = pilot_correlation(folded, tpl, hit.orientation)
    n0, n1 = corr.shape
    total, total_sq = float(corr.sum()), float((corr * corr).sum())
    work = corr.copy()
    taken = [(round(hit.offset[0]) % n0, round(hit.offset[1]) % n1)]
    out: list[PilotHit] = []
    floor = float(work.min())
    while len(out) < count:
        for ty, tx in taken:
            rows = [(ty + d) % n0 for d in range(-2, 3)]
            cols = [(tx + d) % n1 for d in range(-2, 3)]
            work[np.ix_(rows, cols)] = floor
        flat = int(np.argmax(work))
        iy, ix = divmod(flat, n1)
        score = _robust_z(corr, iy, ix, total, total_sq)
        if score < 3.0:
            break
        out.append(PilotHit(score, hit.orientation, _peak_subsample(corr, iy, ix)))
        taken.append((iy, ix))
    return out


def shift(tile: F32, dy: float, dx: float) -> F32:
    """Cyclic shift by a fractional number of samples (Fourier shift theorem)."""
    n0, n1 = tile.shape
    fy = np.fft.fftfreq(n0)[:, None]
    fx = np.fft.fftfreq(n1)[None, :]
    phase = np.exp(2j * np.pi * (fy * dy + fx * dx))
    return np.real(np.fft.ifft2(np.fft.fft2(tile) * phase)).astype(np.float32)


def read_cells(folded: F32, hit: PilotHit, tpl: Templates) -> F64:
    """Matched-filter estimate of every cell's amplitude, tile origin at cell (0, 0)."""
    aligned = dihedral(shift(folded, hit.offset[0], hit.offset[1]), hit.orientation)
    matched = np.real(np.fft.ifft2(np.fft.fft2(aligned) * tpl.cell_fft))
    return matched[0::OVERSAMPLE, 0::OVERSAMPLE].astype(np.float64)


@dataclass(frozen=True, slots=True)
class Soft:
    values: F64  # per channel bit, positive = 1, in units of its noise standard deviation
    pilot_snr: float  # mean pilot cell amplitude over the cell noise


def soft_bits(cells: F64, layout: TileLayout, n_bits: int, weights: F64 | None = None) -> Soft:
    """Combine each bit's cells; scale so that noise has unit variance per bit."""
    signed = cells * layout.chips
    if weights is not None:
        signed = signed * weights
    pilot = signed[layout.pilot]
    data = ~layout.pilot
    soft = np.zeros(n_bits, dtype=np.float64)
    np.add.at(soft, layout.bit_of_cell[data], signed[data])
    # Noise per cell from the pilot spread (the pilot mean is the signal).
    mean = float(np.mean(pilot))
    noise = float(np.std(pilot)) + 1e-12
    return Soft(soft / (noise * np.sqrt(CELLS_PER_BIT)), mean / noise)
