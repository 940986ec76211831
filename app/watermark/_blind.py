"""Blind reading: find the lattice, resample onto the tile grid, fold, find the pilot, decode."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from ._lattice import (
    FIRST,
    FULL,
    TEXTURE,
    Lattice,
    lattice_stages,
    peak_offset,
    same_lattice,
    texture_lattices,
)
from ._pattern import OVERSAMPLE, TILE
from ._signal import (
    NORMALISE_SIGMA,
    PERIOD,
    PilotHit,
    Templates,
    fold,
    pilot_correlation,
    residual,
    whiten,
)

F32 = npt.NDArray[np.float32]
B8 = npt.NDArray[np.bool_]

# Long side of the images the lattice is looked for in. A full photo marked at 512 cells
# on its long side shows cells of 2 pixels at 1024; a quarter crop shows them at 2 pixels
# only at 512, so both levels are searched.
ANALYSIS_SIDES = (1024, 512)
# Never upsample a suspect by more than this to reach two samples per cell: a mark with
# smaller cells than that was never there.
MAX_UPSAMPLE = 2.0
# A suspect smaller than this cannot hold one tile at any useful scale.
MIN_SUSPECT_SIDE = 64
# Cells smaller than this (in suspect pixels) cannot have survived: a copy 512 pixels wide
# of any photo shows its 512 cells at one pixel each, and below that they average away.
MIN_PITCH = 1.0
# A small copy (under ANALYSIS_SIDES[0] pixels) is scaled up for the lattice search, up to
# this factor, so that a 600-pixel copy of a 12 MP photo (cells of 1.2 pixels) shows cells
# of about 2 pixels, the size the analysis residual is tuned for.
MAX_ANALYSIS_UPSAMPLE = 1.75
# How far (in samples) a block's tile phase may stray from the whole grid's.
DRIFT_RADIUS = 8
# High-pass for lattice analysis: a little wider than for reading, since cells may appear
# at anything from 1.5 to 4 pixels there.
ANALYSIS_SIGMA = 2.0
MAX_GRID_SAMPLES = 16_000_000
# A full read never resamples more than this: a large photo at two samples per cell is
# about 1024 x 768; twice that is plenty for any genuine hypothesis.
MAX_READ_SAMPLES = 2_400_000
# The scale scan (scan_geometries): window size in tiles, step (cells of drift across the
# window per step), largest cell size, and the cell size aimed at in the analysed level.
SCAN_TILES = 4
SCAN_STEP = 1.0
SCAN_MAX_PITCH = 12.0
SCAN_LEVEL_PITCH = 1.6
# Lattices through the strongest autocorrelation peak screened before the full search.
FIRST_LOOK = 4
# The texture stage's residual is normalised over a smaller neighbourhood (pixels, at the
# analysis level) than the full search's: between the wires of a fence or the threads of
# checked cloth the mark then keeps its weight instead of being scaled down by the
# texture's energy a few pixels away.
TEXTURE_NORMALISE = 2.0
# Levels that get a texture stage: the first only. A texture drowns the tile where the
# whole photo is analysed; the coarser level serves crops and small copies, where the
# stage found nothing the other stages had not (docs/watermark.md, "Fourth round").
TEXTURE_LEVELS = 1


@dataclass(frozen=True)
class Geometry:
    """A hypothesis about how the suspect relates to the tile grid."""

    lattice: Lattice  # tile sides in suspect pixels
    level: int
    # The analysis residual the lattice was found in, and the lattice in its pixels: a
    # cheap first look at the pilot before resampling the full suspect.
    residual: F32
    level_lattice: Lattice

    @property
    def pitch(self) -> float:
        """Cell size in suspect pixels."""
        return self.lattice.period / TILE

    @property
    def angle(self) -> float:
        """Rotation in degrees of the first tile side, folded into [-45, 45)."""
        deg = math.degrees(math.atan2(self.lattice.v1[1], self.lattice.v1[0]))
        return (deg + 45.0) % 90.0 - 45.0


def resize_to(image: F32, factor: float) -> tuple[F32, float, float]:
    h, w = image.shape
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    if (nw, nh) == (w, h):
        return image, 1.0, 1.0
    interp = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
    out = np.asarray(cv2.resize(image, (nw, nh), interpolation=interp), dtype=np.float32)
    return out, nw / w, nh / h


class Pyramid:
    """Resized copies of the suspect's luminance, each made from the nearest larger copy."""

    def __init__(self, luma: F32, normalise: float = NORMALISE_SIGMA) -> None:
        self.luma = luma
        # How the residual read from is normalised (residual's `normalise`).
        self.normalise = normalise
        self._levels: dict[float, tuple[F32, float, float]] = {1.0: (luma, 1.0, 1.0)}
        self._flat: dict[float, F32] = {}
        self._local: Pyramid | None = None

    def local(self) -> Pyramid:
        """The same suspect, read from a residual normalised over TEXTURE_NORMALISE pixels
        (the resized copies are shared): on a fence or checked cloth, the mark between the
        wires or threads keeps its weight there."""
        if self._local is None:
            self._local = Pyramid(self.luma, TEXTURE_NORMALISE)
            self._local._levels = self._levels
        return self._local

    def at(self, factor: float, tolerance: float = 0.0) -> tuple[F32, float, float]:
        """The suspect at about `factor` times its size (within tolerance, relative)."""
        return self._levels[self._level(factor, tolerance)]

    def flattened(self, factor: float, tolerance: float = 0.0) -> tuple[F32, float, float]:
        """As at(), but the level's whitened residual (for reading): every read at one
        level, and every geometry correction of a read, shares it."""
        key = self._level(factor, tolerance)
        small, fx, fy = self._levels[key]
        if key not in self._flat:
            self._flat[key] = whiten(residual(small, normalise=self.normalise))
        return self._flat[key], fx, fy

    def _level(self, factor: float, tolerance: float) -> float:
        for f in self._levels:
            if abs(f / factor - 1.0) <= tolerance:
                return f
        larger = [f for f in self._levels if f >= factor]
        source_f = min(larger) if larger else 1.0
        source, sfx, sfy = self._levels[source_f]
        out, fx, fy = resize_to(source, factor / source_f)
        self._levels[factor] = (out, sfx * fx, sfy * fy)
        return factor


@dataclass(frozen=True)
class Batch:
    """Hypotheses to screen, strongest first, from one stage of one level's search (FIRST,
    FULL or TEXTURE, see lattice_stages). A first look comes ahead of its level's full
    search and may be repeated by it (`repeats` tells); it is not counted against the
    number of hypotheses screened, nor is the texture stage, which has its own bound."""

    geometries: list[Geometry]
    stage: str

    @property
    def first_look(self) -> bool:
        return self.stage == FIRST


def geometries_by_level(pyramid: Pyramid) -> Iterator[Batch]:
    """Lattice hypotheses one analysis level at a time, each level's full search preceded
    by a first look (see lattice_stages), so that a reader can stop as soon as one
    decodes; no full search repeats an earlier level's. After every level, the first
    level's texture stage (texture_lattices): it costs more than a level's search and
    serves only photos with a periodic texture of their own, so a crop that reads at the
    coarser level never waits for it."""
    h, w = pyramid.luma.shape
    found: list[Geometry] = []
    textured: list[tuple[int, F32, float, float, float]] = []
    for level, side in enumerate(ANALYSIS_SIDES):
        factor = min(MAX_ANALYSIS_UPSAMPLE, side / max(h, w))
        if level > 0 and factor >= 1.0:
            # The suspect is small and was analysed at full size or larger; halve it instead.
            factor = 0.5**level
        small, fx, fy = pyramid.at(factor)
        if min(small.shape) < PERIOD:
            continue
        res = residual(small, ANALYSIS_SIGMA)
        # Where the copy's own JPEG blocks (8 pixels) fall in this level.
        block = 8.0 * (fx + fy) / 2.0
        white: F32 | None = None
        for stage, name in lattice_stages(res, block=block):
            if stage and white is None:
                white = whiten(res)
            kept = (
                _new_geometries(stage, level, white, (fx, fy), found) if white is not None else []
            )
            if name == FIRST:
                yield Batch(kept[:FIRST_LOOK], FIRST)
            else:
                found += kept
                yield Batch(kept, FULL)
        if level < TEXTURE_LEVELS:
            textured.append((level, small, fx, fy, block))
    for level, small, fx, fy, block in textured:
        local = residual(small, ANALYSIS_SIGMA, normalise=TEXTURE_NORMALISE)
        lattices = texture_lattices(local, block=block)
        if lattices:
            # Not thinned out like the other stages' (a lattice within a percent or two of
            # one screened before is dropped there): the pilot needs the tile's period to
            # about 0.3 %, and among lattices that close only the pilot tells which is it.
            yield Batch(_new_geometries(lattices, level, whiten(local), (fx, fy), None), TEXTURE)


def _new_geometries(
    lattices: list[Lattice],
    level: int,
    white: F32,
    scale: tuple[float, float],
    found: list[Geometry] | None,
) -> list[Geometry]:
    """Geometries of a level's lattices, strongest first, without any close to one found
    before or to a stronger one (`found` None: all of them)."""
    kept: list[Geometry] = []
    fx, fy = scale
    for lattice in lattices:
        full = lattice.scaled(1.0 / fx, 1.0 / fy)
        if full.period / TILE < MIN_PITCH:
            continue
        if found is not None and any(_close(full, other.lattice) for other in found + kept):
            continue
        kept.append(Geometry(full, level, white, lattice))
    kept.sort(key=lambda g: -g.lattice.strength)
    return kept


def repeats(a: Geometry, b: Geometry) -> bool:
    """The same hypothesis: one analysis level, the same lattice there."""
    return a.level == b.level and same_lattice(a.level_lattice, b.level_lattice)


def _square(period: float) -> Lattice:
    return Lattice(np.array([period, 0.0]), np.array([0.0, period]), 0.0)


def scan_geometries(pyramid: Pyramid) -> Iterator[Geometry]:
    """Every cell size from MIN_PITCH up, unrotated, for suspects the lattice search missed.

    The autocorrelation squares the mark's weak amplitude; on a small or heavily textured
    copy its peaks drown while the pilot, correlated directly, still stands out. Each step
    folds only a central window of at most SCAN_TILES tiles, so a scale error of one step
    shifts the window's far edge by under a cell and the work per step stays bounded.
    """
    h, w = pyramid.luma.shape
    top = min(min(h, w) / (TILE * 1.2), SCAN_MAX_PITCH)
    windows: dict[float, tuple[F32, float, float]] = {}
    pitch = MIN_PITCH
    while pitch <= top:
        # The level where cells are 1.6 to 3.2 pixels.
        factor = min(MAX_UPSAMPLE, 2.0 ** -math.floor(math.log2(pitch / SCAN_LEVEL_PITCH)))
        if factor not in windows:
            small, fx, fy = pyramid.at(factor)
            # Largest window this level needs (cells up to 3.2 pixels), plus a margin for
            # the residual filter; the residual is computed on that window only.
            side = int(SCAN_TILES * TILE * 2 * SCAN_LEVEL_PITCH) + 16
            sh, sw = small.shape
            y0, x0 = max(0, (sh - side) // 2), max(0, (sw - side) // 2)
            windows[factor] = (whiten(residual(small[y0 : y0 + side, x0 : x0 + side])), fx, fy)
        res, fx, fy = windows[factor]
        period = TILE * pitch * (fx + fy) / 2.0
        side = int(min(SCAN_TILES * period, max(res.shape)))
        rh, rw = res.shape
        y0 = max(0, (rh - side) // 2)
        x0 = max(0, (rw - side) // 2)
        window = res[y0 : y0 + side, x0 : x0 + side]
        extent = max(window.shape) / (period / TILE)
        yield Geometry(_square(TILE * pitch), -1, window, _square(period))
        pitch *= 1.0 + SCAN_STEP / extent


def _close(a: Lattice, b: Lattice) -> bool:
    return abs(a.period / b.period - 1.0) < 0.01 and (
        float(np.hypot(*(a.v1 - b.v1))) < 0.02 * a.period
        or float(np.hypot(*(a.v1 - b.v2))) < 0.02 * a.period
        or float(np.hypot(*(a.v1 + b.v1))) < 0.02 * a.period
        or float(np.hypot(*(a.v1 + b.v2))) < 0.02 * a.period
    )


def warp_to_grid(res: F32, lattice: Lattice) -> tuple[F32, B8]:
    """Resample a residual image so its tiles are axis-aligned and PERIOD samples wide."""
    m = np.column_stack([lattice.v1, lattice.v2]) / PERIOD
    h, w = res.shape
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64).T
    g = np.linalg.solve(m, corners)
    gmin = np.floor(g.min(axis=1))
    gmax = np.ceil(g.max(axis=1))
    size = (int(gmax[0] - gmin[0]) + 1, int(gmax[1] - gmin[1]) + 1)
    if size[0] * size[1] > MAX_GRID_SAMPLES:  # pragma: no cover - callers bound the size
        raise AssertionError("grid too large")
    affine = np.hstack([m, (m @ gmin)[:, None]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    grid = cv2.warpAffine(res, affine, size, flags=flags, borderMode=cv2.BORDER_CONSTANT)
    # The image is a parallelogram on the grid; shrink it by a sample so values
    # interpolated against the zero border do not count as data.
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    poly = np.rint((g - gmin[:, None]).T * 16).astype(np.int32)
    cv2.fillConvexPoly(mask, poly, 1, lineType=cv2.LINE_8, shift=4)
    inner = cv2.erode(mask, np.ones((3, 3), np.uint8))
    return np.asarray(grid, dtype=np.float32), np.asarray(inner) > 0


def to_grid(pyramid: Pyramid, lattice: Lattice) -> tuple[F32, B8]:
    """Resample the suspect at about two samples per cell, then onto the tile grid."""
    pitch = lattice.period / TILE
    factor = min(OVERSAMPLE / pitch, MAX_UPSAMPLE)
    h, w = pyramid.luma.shape
    if h * w * factor * factor > MAX_READ_SAMPLES:
        # More cells than a full-size photo has (a small-cell hypothesis on a huge image):
        # read the central part only, which bounds time and memory.
        keep = math.sqrt(MAX_READ_SAMPLES / (h * w * factor * factor))
        ch, cw = max(1, int(h * keep)), max(1, int(w * keep))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        small, fx, fy = resize_to(pyramid.luma[y0 : y0 + ch, x0 : x0 + cw], factor)
        flat = whiten(residual(small, normalise=pyramid.normalise))
    else:
        # Anything from 1.8 to 2.2 samples per cell reads as well; reuse a close level.
        flat, fx, fy = pyramid.flattened(factor, tolerance=0.1)
    return warp_to_grid(flat, lattice.scaled(fx, fy))


def _local_peak(
    corr: np.ndarray, near: tuple[float, float], radius: int
) -> tuple[float, float, float]:
    """Highest point of a cyclic correlation within radius of near; sub-sample, robust z."""
    n0, n1 = corr.shape
    cy, cx = round(near[0]), round(near[1])
    best = (-math.inf, 0, 0)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            v = float(corr[(cy + dy) % n0, (cx + dx) % n1])
            if v > best[0]:
                best = (v, cy + dy, cx + dx)
    _, iy, ix = best
    centre = float(np.median(corr))
    spread = 1.4826 * float(np.median(np.abs(corr - centre))) + 1e-12

    def parabola(minus: float, mid: float, plus: float) -> float:
        # The highest point of the whole window: its vertex is within half a sample.
        return float(peak_offset(np.array(minus), np.array(mid), np.array(plus), 0.5))

    mid = float(corr[iy % n0, ix % n1])
    fy = parabola(float(corr[(iy - 1) % n0, ix % n1]), mid, float(corr[(iy + 1) % n0, ix % n1]))
    fx = parabola(float(corr[iy % n0, (ix - 1) % n1]), mid, float(corr[iy % n0, (ix + 1) % n1]))
    return iy + fy, ix + fx, (mid - centre) / spread


def _wrap(d: float) -> float:
    return (d + PERIOD / 2) % PERIOD - PERIOD / 2


def drift(grid: F32, valid: B8, hit: PilotHit, tpl: Templates) -> np.ndarray | None:
    """How far the tile phase wanders across the grid: J with phase(g) ~ g + J g + const.

    Folding blocks of the grid separately and locating the pilot in each shows whether the
    lattice estimate is slightly off in scale or angle; that error grows linearly across the
    image, so a similarity fit to the block offsets corrects it.
    """
    h, w = grid.shape
    ny = min(3, max(1, h // (2 * PERIOD)))
    nx = min(3, max(1, w // (2 * PERIOD)))
    if ny * nx < 2:
        return None
    ys = np.linspace(0, h, ny + 1).astype(int)
    xs = np.linspace(0, w, nx + 1).astype(int)
    rows: list[list[float]] = []
    rhs: list[float] = []
    weights: list[float] = []
    centres: list[tuple[float, float]] = []
    offsets: list[tuple[float, float, float]] = []
    for i in range(ny):
        for j in range(nx):
            y0, y1, x0, x1 = ys[i], ys[i + 1], xs[j], xs[j + 1]
            block, count = fold(grid[y0:y1, x0:x1], valid[y0:y1, x0:x1])
            if count < PERIOD * PERIOD:
                continue
            # Put the block's fold in the phase of the whole grid's fold.
            block = np.roll(block, (y0 % PERIOD, x0 % PERIOD), axis=(0, 1))
            corr = pilot_correlation(block, tpl, hit.orientation)
            oy, ox, z = _local_peak(corr, hit.offset, DRIFT_RADIUS)
            if z < 3.5:
                continue
            centres.append(((y0 + y1) / 2.0, (x0 + x1) / 2.0))
            offsets.append((_wrap(oy - hit.offset[0]), _wrap(ox - hit.offset[1]), z))
    if len(centres) < 2:
        return None
    cy = float(np.mean([c[0] for c in centres]))
    cx = float(np.mean([c[1] for c in centres]))
    for (gy, gx), (dy, dx, z) in zip(centres, offsets, strict=True):
        # phase drift d = [[a, -b], [b, a]] @ (g - c) + t, in (x, y) order.
        ux, uy = gx - cx, gy - cy
        rows.append([ux, -uy, 1.0, 0.0])
        rhs.append(dx)
        rows.append([uy, ux, 0.0, 1.0])
        rhs.append(dy)
        weights += [z, z]
    a = np.array(rows)
    b = np.array(rhs)
    wt = np.sqrt(np.array(weights))
    sol = np.linalg.lstsq(a * wt[:, None], b * wt, rcond=None)[0]
    return np.array([[sol[0], -sol[1]], [sol[1], sol[0]]])


def corrected(lattice: Lattice, jac: np.ndarray) -> Lattice:
    """The lattice whose grid has no drift: tile sides [v1 v2] @ (I + J)."""
    basis = np.column_stack([lattice.v1, lattice.v2]) @ (np.eye(2) + jac)
    return Lattice(basis[:, 0], basis[:, 1], lattice.strength)
