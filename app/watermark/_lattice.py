"""Finding the tile lattice in a suspect image: scale, rotation and shear in one go.

The tile repeats over the whole photo, so the autocorrelation of the suspect's noise has
peaks on a lattice whose basis vectors are the tile's two sides as they appear now: their
length gives the scale, their angle the rotation, any difference between them a stretch.
The power spectrum is whitened first (divided by a smooth estimate of itself and clipped),
so the image's own strong periodicities, such as a JPEG block grid or upscaling artefacts,
cannot outshout the many weak lines of the tile.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

F32 = npt.NDArray[np.float32]
Vec = npt.NDArray[np.float64]

WHITEN_BOX = 27
# As in _signal: the estimate is the geometric mean times _LOG_BIAS, about 0.32 of the local
# mean power, so the whitened spectrum of noise averages about 3.2 and WHITEN_CLIP caps a
# bin at about 3.2 times the local mean.
WHITEN_CLIP = 10.0
# exp(-Euler gamma): the mean of log(exponential) is biased by -gamma.
_LOG_BIAS = 0.5615
# Shortest tile side considered, in analysis pixels: cells of 1.25 pixels or more.
MIN_PERIOD = 40
MIN_PEAK = 5.0
MAX_CANDIDATES = 12


def peak_offset(minus: Vec, mid: Vec, plus: Vec, limit: float) -> Vec:
    """Sub-sample offset of the vertex of the parabola through three samples, within ±limit.

    Nearly flat samples make the curvature tiny and the vertex arbitrarily far away; the
    peak is known to be near the middle sample, so the offset is bounded. Not concave: 0.
    """
    denom = minus - 2.0 * mid + plus
    safe = np.where(denom < 0, denom, -1.0)
    return np.where(denom < 0, np.clip(0.5 * (minus - plus) / safe, -limit, limit), 0.0)


@dataclass(frozen=True)
class Autocorrelation:
    values: F32  # normalised: robust noise level is 1
    cy: int
    cx: int

    def at(self, x: float, y: float, radius: int = 1) -> tuple[float, float, float]:
        """Sub-pixel position and height of the highest point within radius of (x, y)."""
        px, py, pv = self.at_many(np.array([x]), np.array([y]), radius)
        return float(px[0]), float(py[0]), float(pv[0])

    def at_many(self, xs: Vec, ys: Vec, radius: int = 1) -> tuple[Vec, Vec, Vec]:
        """at() for many points at once; -inf height for points too close to the border."""
        a = self.values
        n0, n1 = a.shape
        iy0 = np.rint(ys).astype(np.int64) + self.cy
        ix0 = np.rint(xs).astype(np.int64) + self.cx
        ok = (
            (iy0 >= radius + 1)
            & (iy0 < n0 - radius - 1)
            & (ix0 >= radius + 1)
            & (ix0 < n1 - radius - 1)
        )
        iy0 = np.where(ok, iy0, radius + 1)
        ix0 = np.where(ok, ix0, radius + 1)
        offs = np.arange(-radius, radius + 1)
        wy = iy0[:, None, None] + offs[None, :, None]
        wx = ix0[:, None, None] + offs[None, None, :]
        win = a[wy, wx].reshape(len(xs), -1)
        best = np.argmax(win, axis=1)
        side = 2 * radius + 1
        iy = iy0 + best // side - radius
        ix = ix0 + best % side - radius
        v = a[iy, ix].astype(np.float64)

        # The highest sample may sit at the window's edge with a higher one just outside:
        # the peak is then up to a pixel beyond it.
        dx = peak_offset(a[iy, ix - 1].astype(np.float64), v, a[iy, ix + 1].astype(np.float64), 1.0)
        dy = peak_offset(a[iy - 1, ix].astype(np.float64), v, a[iy + 1, ix].astype(np.float64), 1.0)
        px = np.where(ok, ix - self.cx + dx, xs)
        py = np.where(ok, iy - self.cy + dy, ys)
        return px, py, np.where(ok, v, -np.inf)


def _notch_block_grid(white: F32, ph: int, pw: int, block: float) -> None:
    """Neutralise the spectral lines of a JPEG block grid of period `block` pixels.

    A copy's last JPEG compression leaves a square lattice of its own (8 pixels in the
    copy, `block` in the analysed image) that would otherwise win every lattice search.
    """
    if block < 2.05:
        return
    k = 1
    while k / block < 0.5:
        fy = round(ph * k / block)
        fx = round(pw * k / block)
        for r in (fy, ph - fy):
            white[max(0, r - 2) : r + 3, :] = 1.0
        white[:, max(0, fx - 2) : fx + 3] = 1.0
        k += 1


def autocorrelation(res: F32, block: float = 0.0) -> Autocorrelation:
    """Whitened autocorrelation; `block` is the JPEG block size in res pixels (0: none)."""
    h, w = res.shape
    ph, pw = cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w)
    centred = (res - np.float32(res.mean())).astype(np.float32)
    # rfft2 with s=(ph, pw), without transforming the ph - h rows of zero padding.
    spec = sfft.fft(sfft.rfft(centred, n=pw, axis=1, workers=1), n=ph, axis=0, workers=1)
    power = (spec.real * spec.real + spec.imag * spec.imag).astype(np.float32) + np.float32(1e-6)
    # Smooth estimate of the spectrum (geometric mean over a ~30-bin neighbourhood; two box
    # passes approximate a Gaussian at a fraction of its cost).
    log_power = np.log(power)
    box = (WHITEN_BOX, WHITEN_BOX)
    smooth = cv2.blur(cv2.blur(log_power, box), box)
    white = np.minimum(power / (np.exp(smooth) * np.float32(_LOG_BIAS)), np.float32(WHITEN_CLIP))
    _notch_block_grid(white, ph, pw, block)
    acf = np.fft.fftshift(sfft.irfft2(white, s=(ph, pw), workers=1)).astype(np.float32)
    # Robust noise level from a sparse sample: the median of 3 million values is slow.
    sample = acf[::7, ::7]
    centre = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - centre))) + 1e-12
    return Autocorrelation((acf - centre) / spread, ph // 2, pw // 2)


@dataclass(frozen=True)
class Lattice:
    v1: Vec  # one tile side, in pixels of the analysed image
    v2: Vec
    strength: float

    def scaled(self, factor_x: float, factor_y: float) -> Lattice:
        f = np.array([factor_x, factor_y])
        return Lattice(self.v1 * f, self.v2 * f, self.strength)

    @property
    def period(self) -> float:
        return math.sqrt(abs(float(self.v1[0] * self.v2[1] - self.v1[1] * self.v2[0])))


def _peaks(
    acf: Autocorrelation, lo: float, hi: int, count: int
) -> list[tuple[float, float, float]]:
    cy, cx = acf.cy, acf.cx
    sub = acf.values[cy - hi : cy + hi + 1, cx - hi : cx + hi + 1].copy()
    # Lags as a column and a row, broadcast: whole-image index grids cost more than the rest.
    lags = np.arange(-hi, hi + 1)
    yy, xx = lags[:, None], lags[None, :]
    rr2 = yy * yy + xx * xx
    # Half plane only: the autocorrelation is symmetric.
    bad = (rr2 < lo * lo) | (rr2 > hi * hi) | (xx < 0) | ((xx == 0) & (yy <= 0))
    np.putmask(sub, bad, np.float32(-1e9))
    dil = cv2.dilate(sub, np.ones((7, 7), np.uint8))
    ys, xs = np.nonzero((sub >= dil) & ~bad)
    vals = sub[ys, xs]
    order = np.argsort(-vals)[:count]
    return [(float(xs[i] - hi), float(ys[i] - hi), float(vals[i])) for i in order]


def _submultiples(acf: Autocorrelation, v: Vec, value: float) -> list[tuple[Vec, float]]:
    """v and the shorter lattice vectors along it: the strongest peak may be 2 or 3 tiles away.

    All of them are kept: when the photo has a periodic texture of its own (an upscaled or
    re-compressed original) whose period divides the tile's, the shortest one is not ours.
    """
    chain = [(v, value)]
    changed = True
    while changed:
        changed = False
        for d in (2, 3, 5):
            if math.hypot(*v) / d < MIN_PERIOD:
                continue
            x, y, pv = acf.at(v[0] / d, v[1] / d)
            # A sub-multiple is shorter: without that check a flat ridge once sent the
            # search back to the same vector for ever.
            shorter = math.hypot(x, y) < 0.75 * math.hypot(*v)
            if shorter and pv > MIN_PEAK and pv > 0.35 * value:
                v, value, changed = np.array([x, y]), pv, True
                chain.append((v, value))
                break
    return chain


def _multiples(acf: Autocorrelation, v: Vec, hi: float) -> list[tuple[Vec, float]]:
    out = []
    for k in (2, 3, 4, 5):
        if k * math.hypot(*v) > hi:
            break
        x, y, pv = acf.at(k * v[0], k * v[1])
        if pv > MIN_PEAK:
            out.append((np.array([x, y]), pv))
    return out


def _refine(acf: Autocorrelation, v1: Vec, v2: Vec) -> tuple[Vec, Vec]:
    """Least squares over the visible lattice peaks, reaching further out in stages.

    Precision grows with distance from the centre, but a small error in the first guess
    also grows with it; each stage predicts the next, wider ring from the last fit.
    """
    lim_x, lim_y = acf.cx * 0.8, acf.cy * 0.8
    for reach in (1, 2, 3, 5, 8):
        k, m = _HALF_PLANE[reach]
        px = k * v1[0] + m * v2[0]
        py = k * v1[1] + m * v2[1]
        inside = (np.abs(px) <= lim_x) & (np.abs(py) <= lim_y)
        if inside.sum() < 3:
            break
        k, m, px, py = k[inside], m[inside], px[inside], py[inside]
        fx, fy, val = acf.at_many(px, py, 2 if reach == 1 else 1)
        keep = val >= 3.0
        if keep.sum() < 3:
            break
        a = np.column_stack([k[keep], m[keep]])
        b = np.column_stack([fx[keep], fy[keep]])
        w = val[keep][:, None]
        sol = np.linalg.lstsq(a * w, b * w, rcond=None)[0]
        v1, v2 = sol[0], sol[1]
    return v1, v2


def _half_plane(reach: int) -> tuple[Vec, Vec]:
    pts = [(k, m) for k in range(reach + 1) for m in range(-reach, reach + 1) if k > 0 or m > 0]
    arr = np.array(pts, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


_HALF_PLANE = {reach: _half_plane(reach) for reach in (1, 2, 3, 5, 8)}


# Points of a square lattice (half plane) summed by the matched lattice search.
_RING = np.array(
    [
        (1, 0),
        (0, 1),
        (1, 1),
        (1, -1),
        (2, 0),
        (0, 2),
        (2, 1),
        (1, 2),
        (2, -1),
        (1, -2),
        (2, 2),
        (2, -2),
    ],
    dtype=np.float64,
)
MAX_ANGLE = math.radians(8.0)
# Longest tile side the matched search scans, in analysis pixels. The analysis levels are a
# factor of two apart, so a longer side is a side of 80 or more at the next level; the cost
# grows with the square of this bound.
SQUARE_MAX_PERIOD = 170.0


def _square_search(acf: Autocorrelation, lo: float, hi: float, count: int) -> list[tuple[Vec, Vec]]:
    """Matched filter for a square lattice: mean autocorrelation over twelve lattice points,
    for every period and small rotation. One tile peak may drown among the photo's own
    structure; twelve at the right places rarely all do."""
    grown = cv2.dilate(acf.values, np.ones((3, 3), np.uint8))
    periods: list[float] = []
    angles: list[float] = []
    t = lo
    while t <= hi:
        # Steps small enough that the furthest point moves by under a pixel.
        step = 0.7 / (2.83 * t)
        n = int(2 * MAX_ANGLE / step) + 1
        angles.extend(np.linspace(-MAX_ANGLE, MAX_ANGLE, n).tolist())
        periods.extend([t] * n)
        t += 0.6
    if not periods:
        return []
    tt = np.array(periods)[:, None]
    th = np.array(angles)[:, None]
    k, m = _RING[:, 0][None, :], _RING[:, 1][None, :]
    px = tt * (k * np.cos(th) - m * np.sin(th))
    py = tt * (k * np.sin(th) + m * np.cos(th))
    ix = np.rint(px).astype(np.int64) + acf.cx
    iy = np.rint(py).astype(np.int64) + acf.cy
    h, w = grown.shape
    # Only lags with enough overlap count: beyond ~80 % of the image the sum is noise.
    inside = (np.abs(px) < 0.8 * acf.cx) & (np.abs(py) < 0.8 * acf.cy)
    vals = np.where(inside, grown[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)], 0.0)
    used = inside.sum(axis=1)
    score = np.where(used >= 5, vals.sum(axis=1) / np.maximum(used, 1), -np.inf)
    order = np.argsort(-score)
    picked: list[tuple[float, float]] = []
    for i in order[: 50 * count]:
        if not np.isfinite(score[i]) or len(picked) >= count:
            break
        ti, ai = float(tt[i, 0]), float(th[i, 0])
        if any(abs(ti / tj - 1) < 0.04 and abs(ai - aj) < math.radians(1.5) for tj, aj in picked):
            continue
        picked.append((ti, ai))
    return [
        (
            np.array([ti * math.cos(ai), ti * math.sin(ai)]),
            np.array([-ti * math.sin(ai), ti * math.cos(ai)]),
        )
        for ti, ai in picked
    ]


def lattice_score(acf: Autocorrelation, v1: Vec, v2: Vec) -> float:
    """Mean autocorrelation at the six innermost lattice points."""
    k, m = _RING[:6, 0], _RING[:6, 1]
    _, _, vals = acf.at_many(k * v1[0] + m * v2[0], k * v1[1] + m * v2[1])
    finite = vals[np.isfinite(vals)]
    return float(np.mean(finite)) if finite.size >= 3 else -math.inf


def find_lattices(res: F32, limit: int = MAX_CANDIDATES, block: float = 0.0) -> list[Lattice]:
    """Candidate tile lattices in a residual image, strongest first."""
    *_, (everything, _) = lattice_stages(res, limit, block)
    return everything


# The stages of one level's search: lattice_stages yields FIRST then FULL; the reader asks
# for texture_lattices (TEXTURE) after them.
FIRST, FULL, TEXTURE = "first look", "full search", "texture"


def lattice_stages(
    res: F32, limit: int = MAX_CANDIDATES, block: float = 0.0
) -> Iterator[tuple[list[Lattice], str]]:
    """find_lattices in stages, each strongest first, named FIRST and FULL.

    First the lattices through the strongest autocorrelation peak (on a marked copy nearly
    always the tile's): a first look. Then every candidate, exactly find_lattices' answer
    (the first look's lattices among them). The second stage costs most of the search; a
    reader that decodes a first-look lattice never asks for it.
    """
    acf = autocorrelation(res, block)
    h, w = res.shape
    hi = int(min(acf.cy - 8, acf.cx - 8, min(h, w) * 0.75))
    if hi <= MIN_PERIOD * 1.5:
        yield [], FULL
        return
    out: list[Lattice] = []

    def add(v1: Vec, v2: Vec) -> None:
        if any(_same(Lattice(v1, v2, 0.0), o) for o in out):
            return
        r1, r2 = _refine(acf, v1, v2)
        cand = Lattice(r1, r2, lattice_score(acf, r1, r2))
        if math.isfinite(cand.strength) and not any(_same(cand, o) for o in out):
            out.append(cand)

    sides: list[Vec] = []
    for rank, (x, y, val) in enumerate(_peaks(acf, MIN_PERIOD, hi, 4 * limit)):
        if val < MIN_PEAK:
            break
        if rank == 1 and out:
            yield _with_halves(out, limit), FIRST
        chain = _submultiples(acf, np.array([x, y]), val)
        chain += _multiples(acf, chain[-1][0], hi)
        for v1, _ in chain:
            sides.append(v1)
            if len(out) < limit:
                pair = _partner(acf, v1)
                if pair is not None:
                    add(v1, pair)
    for v1, v2 in _pairs(acf, sides, limit):
        add(v1, v2)
    for v1, v2 in _square_search(acf, MIN_PERIOD, min(hi / 1.5, SQUARE_MAX_PERIOD), limit):
        add(v1, v2)
    yield _with_halves(out, limit), FULL


def texture_lattices(res: F32, block: float = 0.0) -> list[Lattice]:
    """Lattice candidates on a photo with a periodic texture of its own, strongest first.

    When the strongest autocorrelation peaks are those of one lattice of the photo's own
    (a chain-link fence, checks, tiles; texture_lattice), they are masked and the tile's
    lattice is looked for among the peaks that are left (texture_candidates); without
    such a lattice, among all the peaks. `res` is best a residual normalised over a
    smaller neighbourhood than the full search's (residual's `normalise`): the parts
    between a fence's wires then keep their weight, and the tile's peaks often rise among
    the strongest even where nothing is masked.
    """
    acf = autocorrelation(res, block)
    h, w = res.shape
    hi = int(min(acf.cy - 8, acf.cx - 8, min(h, w) * 0.75))
    if hi <= MIN_PERIOD * 1.5:
        return []
    basis = texture_lattice(acf, hi)
    masked = acf if basis is None else without_texture(acf, basis, hi)
    return texture_candidates(masked, acf, hi)


# A photo's own periodic texture (a chain-link fence, checked cloth, tiles) fills the
# autocorrelation with peaks of its own lattice that outnumber and outweigh the tile's. Its
# lattice is the one that holds most of the TEXTURE_PEAKS strongest peaks at lags of at
# least TEXTURE_MIN_LAG pixels (at least TEXTURE_HITS of them, TEXTURE_INSIDE of those off
# both basis directions), coarse enough that so many hits cannot be chance; each of its
# points is masked within TEXTURE_RADIUS pixels, plus TEXTURE_SPREAD of the lag (a real
# texture is never quite periodic: its far peaks blur).
TEXTURE_PEAKS = 16
TEXTURE_MIN_LAG = 6
TEXTURE_HITS = 10
# Of them, at least this many off both of its basis directions.
TEXTURE_INSIDE = 3
# Candidate lattices looked at, best first, for one whose sides are both long enough.
TEXTURE_TRIES = 20
TEXTURE_TOLERANCE = 1.5
TEXTURE_RADIUS = 2.0
TEXTURE_SPREAD = 0.01
# Peaks of the masked autocorrelation tried as a tile side, each with its partner. Each
# becomes a hypothesis the pilot screens: with the texture gone the tile's peaks are among
# the strongest, but not always the strongest, and the pilot (which no texture imitates)
# decides.
TEXTURE_SIDES = 40
TEXTURE_PAIRS = 40


def texture_lattice(acf: Autocorrelation, hi: int) -> tuple[Vec, Vec] | None:
    """The lattice of most of the strongest peaks, if one holds TEXTURE_HITS of them."""
    found = _peaks(acf, TEXTURE_MIN_LAG, hi, TEXTURE_PEAKS)
    if len(found) < TEXTURE_HITS:
        return None
    xs, ys, _ = acf.at_many(np.array([p[0] for p in found]), np.array([p[1] for p in found]), 1)
    pts = np.column_stack([xs, ys])
    # A lattice holding some of the peaks holds their differences: its basis is among the
    # peaks and their differences.
    pool = np.vstack([pts, (pts[:, None, :] - pts[None, :, :]).reshape(-1, 2)])
    length = np.hypot(pool[:, 0], pool[:, 1])
    pool = pool[(length >= TEXTURE_MIN_LAG) & (length <= hi)]
    if len(pool) < 2:
        return None
    vs = _distinct(np.asarray(np.round(pool, 1), dtype=np.float64))
    i, j = np.triu_indices(len(vs), 1)
    a, b = vs[i], vs[j]
    det = np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    # A lattice fine enough would hold any peak by chance: each point claims a disc of the
    # tolerance; keep the expected chance hits of all the peaks below 1.5.
    tol = TEXTURE_TOLERANCE + TEXTURE_SPREAD * np.hypot(pts[:, 0], pts[:, 1])
    coarse = det >= len(pts) * math.pi * float(np.mean(tol)) ** 2 / 1.5
    a, b, det = a[coarse], b[coarse], det[coarse]
    if not len(a):
        return None
    basis = np.stack([a, b], axis=2)  # columns are the two vectors
    coef = np.einsum("nij,pj->npi", np.linalg.inv(basis), pts)
    err = np.einsum("nij,npj->npi", basis, coef - np.rint(coef))
    held = np.hypot(err[..., 0], err[..., 1]) < tol[None, :]
    # A lattice spans two directions: peaks along one line through the centre only (the
    # dotted axes a copy's row and column structure leaves) are no texture.
    inside = (np.rint(coef) != 0).all(axis=2)
    hits = np.where((held & inside).sum(axis=1) >= TEXTURE_INSIDE, held.sum(axis=1), 0)
    chosen = _longest_sides(a, b, det, hits)
    if chosen is None:
        return None
    u1, u2 = chosen
    r1, r2 = _refine(acf, u1, u2)
    # The refined basis spans the same cells, or the refinement went astray: the peaks
    # themselves are within a pixel.
    cell = abs(float(u1[0] * u2[1] - u1[1] * u2[0]))
    if abs(abs(float(r1[0] * r2[1] - r1[1] * r2[0])) / cell - 1.0) > 0.05:
        return u1, u2
    return r1, r2


def _longest_sides(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    det: npt.NDArray[np.float64],
    hits: npt.NDArray[np.int64],
) -> tuple[Vec, Vec] | None:
    """The reduced basis of the lattice holding most peaks, of those the coarsest (a finer
    one holds them too), among lattices with at least TEXTURE_HITS peaks. A lattice with a
    side shorter than TEXTURE_MIN_LAG is a set of lines, not a texture: it holds every peak
    along them (the tile's own among them) and would mask them all."""
    for best in np.lexsort((-det, -hits))[:TEXTURE_TRIES]:
        if hits[best] < TEXTURE_HITS:
            return None
        u1, u2 = _reduced(a[best], b[best])
        if min(math.hypot(*u1), math.hypot(*u2)) >= TEXTURE_MIN_LAG:
            return u1, u2
    return None


def _reduced(a: Vec, b: Vec) -> tuple[Vec, Vec]:
    """The shortest basis of the lattice a and b span (Lagrange-Gauss reduction): the
    refinement then predicts near points, whose errors stay small."""
    a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    if a @ a > b @ b:
        a, b = b, a
    for _ in range(32):
        b = b - round(float(a @ b) / float(a @ a)) * a
        if b @ b >= a @ a:
            break
        a, b = b, a
    return a, b


def without_texture(acf: Autocorrelation, basis: tuple[Vec, Vec], hi: int) -> Autocorrelation:
    """The autocorrelation with every point of the texture's lattice masked (set to 0)."""
    u = np.column_stack(basis)
    reach = hi + 8
    if abs(float(np.linalg.det(u))) < TEXTURE_MIN_LAG**2:
        return acf  # not a texture_lattice answer: far too fine to mask
    corners = np.array([[reach, reach, -reach, -reach], [reach, -reach, reach, -reach]])
    coef = np.linalg.solve(u, corners)
    k0, m0 = np.floor(coef.min(axis=1)).astype(int) - 1
    k1, m1 = np.ceil(coef.max(axis=1)).astype(int) + 1
    k, m = np.meshgrid(np.arange(k0, k1 + 1), np.arange(m0, m1 + 1))
    pts = u @ np.vstack([k.ravel(), m.ravel()])
    pts = pts[:, (np.abs(pts[0]) <= reach) & (np.abs(pts[1]) <= reach)]
    mask = np.zeros(acf.values.shape, np.uint8)
    for x, y in pts.T:
        radius = TEXTURE_RADIUS + TEXTURE_SPREAD * math.hypot(x, y)
        centre = (round((x + acf.cx) * 16), round((y + acf.cy) * 16))
        cv2.circle(mask, centre, round(radius * 16), 1, -1, lineType=cv2.LINE_8, shift=4)
    values = acf.values.copy()
    values[mask > 0] = 0.0
    return Autocorrelation(values, acf.cy, acf.cx)


def texture_candidates(acf: Autocorrelation, whole: Autocorrelation, hi: int) -> list[Lattice]:
    """Lattices through the strongest peaks of a texture-masked autocorrelation.

    Each is refined on the `whole` autocorrelation (unmasked): a tile point that falls in
    a masked disc would otherwise be placed on the disc's rim.
    """
    out = _Kept()

    def add(v1: Vec, v2: Vec, centre: bool = True) -> None:
        r1, r2 = _refine(whole, v1, v2)
        cand = Lattice(r1, r2, lattice_score(acf, r1, r2))
        if math.isfinite(cand.strength):
            out.add(cand)
        # The two sides found may be the tile's diagonals, whose points outshine its sides'
        # once the texture's are masked: offer the lattice they centre too.
        if centre and Lattice((r1 + r2) / 2, (r1 - r2) / 2, 0.0).period >= MIN_PERIOD:
            add((r1 + r2) / 2, (r1 - r2) / 2, centre=False)

    sides: list[Vec] = []
    for x, y, val in _peaks(acf, MIN_PERIOD, hi, TEXTURE_SIDES):
        if val < MIN_PEAK:
            break
        v1 = np.array([x, y])
        sides.append(v1)
        pair = _partner(acf, v1)
        if pair is not None:
            add(v1, pair)
    for v1, v2 in _pairs(acf, sides, TEXTURE_PAIRS):
        add(v1, v2)
    return _with_halves(out.lattices, len(out.lattices))


def same_lattice(a: Lattice, b: Lattice) -> bool:
    """The same lattice, whichever basis vectors and signs (within about a pixel)."""
    return _same(a, b)


def _with_halves(found: list[Lattice], limit: int) -> list[Lattice]:
    """The strongest 2 * limit lattices and their halves, strongest first, no repeats."""
    out = sorted(found, key=lambda lat: -lat.strength)[: 2 * limit]
    # A lattice of twice the tile is often measured more precisely than the tile itself
    # (its peaks stand further out) while the tile's own peaks drown in the photo's
    # texture: offer each lattice's half too, ranked with its parent; the pilot decides.
    halves = [
        Lattice(lat.v1 / 2.0, lat.v2 / 2.0, lat.strength)
        for lat in out
        if lat.period / 2.0 >= MIN_PERIOD
    ]
    merged = _Kept()
    for lat in sorted(out + halves, key=lambda lat: -lat.strength):
        merged.add(lat)
    return merged.lattices


class _Kept:
    """Lattices kept so far, none the same as another (`_same`), checked against all of
    them at once: the texture stage keeps hundreds."""

    def __init__(self) -> None:
        self.lattices: list[Lattice] = []
        self._v1 = np.empty((0, 2))
        self._v2 = np.empty((0, 2))

    def __contains__(self, lat: Lattice) -> bool:
        if not self.lattices:
            return False

        def close(u: Vec, vs: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
            tol = max(1.0, 0.005 * math.hypot(*u))
            minus = np.hypot(vs[:, 0] - u[0], vs[:, 1] - u[1])
            plus = np.hypot(vs[:, 0] + u[0], vs[:, 1] + u[1])
            return np.asarray((minus < tol) | (plus < tol))

        first = close(lat.v1, self._v1) | close(lat.v1, self._v2)
        second = close(lat.v2, self._v1) | close(lat.v2, self._v2)
        return bool((first & second).any())

    def add(self, lat: Lattice) -> bool:
        """Keep `lat` unless the same lattice is kept already; whether it was kept."""
        if lat in self:
            return False
        self.lattices.append(lat)
        self._v1 = np.vstack([self._v1, lat.v1])
        self._v2 = np.vstack([self._v2, lat.v2])
        return True


# Two tile sides of a copy scaled by 0.5-1.5 independently along x and y, turned and sheared
# a little, differ in length by at most about 3 and stand at 90 degrees +- about 35.
PAIR_RATIO = 3.2
PAIR_COS = 0.57


def _distinct(vs: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The vectors, without any that lies (up to sign) within 1 % of an earlier one."""
    tol = np.maximum(1.0, 0.01 * np.hypot(vs[:, 0], vs[:, 1]))
    minus = np.hypot(*(vs[:, None, :] - vs[None, :, :]).transpose(2, 0, 1))
    plus = np.hypot(*(vs[:, None, :] + vs[None, :, :]).transpose(2, 0, 1))
    near = (np.minimum(minus, plus) < tol[None, :]) & np.tri(len(vs), k=-1, dtype=bool)
    return np.asarray(vs[~near.any(axis=1)], dtype=np.float64)


def _pairs(acf: Autocorrelation, sides: list[Vec], count: int) -> list[tuple[Vec, Vec]]:
    """Pairs of peak vectors that span a lattice, best first: any aspect ratio and shear.

    A copy stretched along one axis has tile sides of different lengths and, if it was also
    turned, not at right angles; the partner search near the turned vector misses those. Each
    pair is judged by the points it predicts beyond its own two peaks (sum, difference and
    doubles): a tile side paired with a side of the photo's own texture predicts nothing.
    """
    if len(sides) < 2:
        return []
    vs = _distinct(np.array(sides, dtype=np.float64))
    n = len(vs)
    i, j = np.triu_indices(n, 1)
    a, b = vs[i], vs[j]
    la, lb = np.hypot(a[:, 0], a[:, 1]), np.hypot(b[:, 0], b[:, 1])
    cos = np.abs(np.sum(a * b, axis=1)) / (la * lb)
    ratio = np.maximum(la, lb) / np.minimum(la, lb)
    ok = (cos < PAIR_COS) & (ratio < PAIR_RATIO)
    if not ok.any():
        return []
    a, b = a[ok], b[ok]
    # Orient b so that a, b form a right-handed basis (the sign of b is arbitrary).
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    b = np.where((cross < 0)[:, None], -b, b)
    points = [a + b, a - b, 2 * a, 2 * b, 2 * a + b, a + 2 * b]
    vals = []
    for p in points:
        _, _, v = acf.at_many(p[:, 0], p[:, 1])
        vals.append(np.where(np.isfinite(v), v, 0.0))
    stack = np.sort(np.stack(vals, axis=1), axis=1)
    # The lowest four of six: one texture peak that happens to fall on a predicted point
    # does not carry a wrong pair.
    score = stack[:, :4].mean(axis=1)
    order = np.argsort(-score)[:count]
    return [(a[k], b[k]) for k in order if score[k] > 2.0]


def _partner(acf: Autocorrelation, v1: Vec) -> Vec | None:
    """The second tile side: roughly v1 turned by 90 degrees."""
    turned = np.array([-v1[1], v1[0]])
    # Most copies keep their aspect ratio: look right where a square tile puts the other
    # side first, and only then further out, for a copy stretched in one direction.
    x2, y2, val2 = acf.at(float(turned[0]), float(turned[1]), 2)
    if val2 < MIN_PEAK:
        radius = max(3, round(0.12 * math.hypot(*v1)))
        x2, y2, val2 = acf.at(float(turned[0]), float(turned[1]), radius)
    if val2 < MIN_PEAK:
        # Assume a square tile; the pilot will tell.
        return turned
    v2 = np.array([x2, y2])
    ratio = math.hypot(*v2) / max(math.hypot(*v1), 1e-9)
    cos = abs(float(v1 @ v2)) / (math.hypot(*v1) * math.hypot(*v2))
    if not 0.8 < ratio < 1.25 or cos > 0.35:
        return turned
    return v2


def _same(a: Lattice, b: Lattice) -> bool:
    # Same lattice if each basis vector of one is (up to sign) close to one of the other.
    # Close means within a pixel or so: two estimates a few pixels apart are different
    # hypotheses, and only the pilot can tell which is right.
    def close(u: Vec, v: Vec) -> bool:
        tol = max(1.0, 0.005 * math.hypot(*u))
        return bool(np.hypot(*(u - v)) < tol or np.hypot(*(u + v)) < tol)

    return (close(a.v1, b.v1) or close(a.v1, b.v2)) and (close(a.v2, b.v1) or close(a.v2, b.v2))
