"""Informed reading: with the original photo at hand, undo the geometry and subtract it.

1. Register the suspect onto the original: SIFT features (ratio test, then mutual nearest
   neighbours), a RANSAC affine fit, a second, closer look at the matched region when the
   suspect is a small part of the photo, normalised cross-correlation when features fail;
   then an ECC refinement on the embedding grid to a small fraction of a pixel.
2. Resample the suspect onto the original's embedding grid, where the tile sits exactly
   where it was put, and subtract the original (after matching its tone curve and
   sharpness to the suspect's), leaving the mark and the copy's own noise.
3. Fold, find the payload-dependent tile origin with the pilot, decode; or, when the
   candidate downloads of this photo are known, score each candidate's exact pattern.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from ._embed import Grid, amplitude, grid_luma
from ._image import U8Image, luminance
from ._pattern import OVERSAMPLE
from ._result import Extraction
from ._signal import PERIOD, fold

if TYPE_CHECKING:
    from ._core import Watermarker

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
B8 = npt.NDArray[np.bool_]
Mat = npt.NDArray[np.float64]

# Images are matched at this long side (first pass) ...
MATCH_SIDE = 1024
MATCH_SIDES = (1024, 2048)
# ... and, when the suspect covers little of the original, the matched region is looked at
# again at up to this many pixels, so a 512-pixel face crop still finds enough features.
CLOSE_SIDE = 1400
MIN_INLIERS = 12
# Registrations with this many inliers are not in doubt.
CONFIDENT_INLIERS = 40
# Brute-force matching costs the product of the two feature counts; 3000 each is plenty
# for a homography and keeps matching deterministic (no randomised search trees).
FEATURES = 3000
RATIO = 0.75
# High-pass on the difference image: removes what the tone-curve match left over at large
# scales without touching the cell pattern (cells are two samples).
DIFF_SIGMA = 4.0


@dataclass(frozen=True)
class Registration:
    homography: Mat  # suspect full-size pixels -> original full-size pixels
    inliers: int


def _features(image: F32, side: int) -> tuple[list[cv2.KeyPoint], np.ndarray | None, float, float]:
    h, w = image.shape
    factor = min(1.0, side / max(h, w))
    small = image
    if factor < 1.0:
        size = (round(w * factor), round(h * factor))
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.float32)
    # A lower contrast threshold than the default finds features on smooth skin too.
    sift = cv2.SIFT.create(nfeatures=FEATURES, contrastThreshold=0.02)
    keypoints, desc = sift.detectAndCompute(np.clip(small, 0, 255).astype(np.uint8), None)
    return list(keypoints), desc, small.shape[1] / w, small.shape[0] / h


def _match(
    kp_a: list[cv2.KeyPoint],
    desc_a: np.ndarray | None,
    kp_b: list[cv2.KeyPoint],
    desc_b: np.ndarray | None,
    *,
    mutual: bool = False,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Feature correspondences: Lowe's ratio test, or (mutual=True) mutual nearest
    neighbours, which keeps matches on repeated structure (identical cupboard doors, tiles)
    that the ratio test throws away, leaving RANSAC to sort them out."""
    if desc_a is None or desc_b is None or len(kp_a) < MIN_INLIERS or len(kp_b) < MIN_INLIERS:
        return None
    if mutual:
        good = list(cv2.BFMatcher(cv2.NORM_L2, crossCheck=True).match(desc_a, desc_b))
    else:
        pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_a, desc_b, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = np.array([kp_a[m.queryIdx].pt for m in good], dtype=np.float64)
    dst = np.array([kp_b[m.trainIdx].pt for m in good], dtype=np.float64)
    return src, dst


def _fit(
    kp_a: list[cv2.KeyPoint],
    desc_a: np.ndarray | None,
    kp_b: list[cv2.KeyPoint],
    desc_b: np.ndarray | None,
) -> tuple[Mat, int] | None:
    for mutual in (False, True):
        pairs = _match(kp_a, desc_a, kp_b, desc_b, mutual=mutual)
        found = None if pairs is None else _homography(*pairs, threshold=3.0)
        if found is not None:
            return found
    return None


def _scale_matrix(fx: float, fy: float) -> Mat:
    """cv2.resize's pixel-centre convention as a 3x3 matrix: x' = f (x + 0.5) - 0.5."""
    return np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])


def _homography(src: np.ndarray, dst: np.ndarray, threshold: float) -> tuple[Mat, int] | None:
    """Robust affine fit (as a 3x3 matrix): crops, resizes and rotations are affine, and
    fitting a full homography to a small crop lets noise bend it."""
    fitted: tuple[object, object] = cv2.estimateAffine2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=threshold,
        maxIters=5000,
        confidence=0.999,
        refineIters=20,
    )
    affine, mask = fitted
    # OpenCV returns None for both when no model fits.
    if not isinstance(affine, np.ndarray) or not isinstance(mask, np.ndarray):
        return None
    inliers = int(mask.sum())
    if inliers < MIN_INLIERS:
        return None
    return np.vstack([np.asarray(affine, dtype=np.float64), [0.0, 0.0, 1.0]]), inliers


def register(suspect: F32, original: F32) -> Registration | None:
    """Homography from suspect to original pixels, or None when they do not match."""
    kp_s, d_s, sfx, sfy = _features(suspect, MATCH_SIDE)
    for side in MATCH_SIDES:
        if side > MATCH_SIDES[0] and side > 1.2 * max(original.shape):
            break
        kp_o, d_o, ofx, ofy = _features(original, side)
        found = _fit(kp_s, d_s, kp_o, d_o)
        if found is None:
            # A small crop is a few hundred pixels of a downscaled original: look closer.
            continue
        h_small, inliers = found
        h_full = np.linalg.inv(_scale_matrix(ofx, ofy)) @ h_small @ _scale_matrix(sfx, sfy)
        close = _closer_look(suspect, original, h_full, inliers)
        if close is not None:
            return close
        return Registration(h_full, inliers)
    return _by_template(suspect, original)


# Scales (suspect pixels per original pixel) tried when features fail; a cut-out face is
# usually at full scale or resized by a simple factor.
TEMPLATE_SCALES = (1.0, 0.75, 0.5, 1.5, 2.0)
TEMPLATE_MIN_NCC = 0.6


def _by_template(suspect: F32, original: F32) -> Registration | None:
    """Last resort for small crops of repetitive texture where features are ambiguous:
    normalised cross-correlation of the suspect within the original at a few scales,
    unrotated. ECC on the grid refines the result."""
    oh, ow = original.shape
    sh, sw = suspect.shape
    f = min(1.0, MATCH_SIDE / max(oh, ow))
    small_o = np.asarray(
        cv2.resize(original, (round(ow * f), round(oh * f)), interpolation=cv2.INTER_AREA),
        np.float32,
    )
    best: tuple[float, Mat] | None = None
    for scale in TEMPLATE_SCALES:
        # Suspect pixels -> small-original pixels: divide by the scale, then by 1/f.
        k = f / scale
        tw, th = round(sw * k), round(sh * k)
        if tw < 24 or th < 24 or tw >= small_o.shape[1] or th >= small_o.shape[0]:
            continue
        tpl = np.asarray(cv2.resize(suspect, (tw, th), interpolation=cv2.INTER_AREA), np.float32)
        ncc = np.asarray(cv2.matchTemplate(small_o, tpl, cv2.TM_CCOEFF_NORMED))
        _, peak, _, (x, y) = cv2.minMaxLoc(ncc)
        if best is None or peak > best[0]:
            to_small = np.array([[tw / sw, 0.0, x], [0.0, th / sh, y], [0.0, 0.0, 1.0]])
            best = (float(peak), np.linalg.inv(_scale_matrix(f, f)) @ to_small)
    if best is None or best[0] < TEMPLATE_MIN_NCC:
        return None
    return Registration(best[1], 0)


def _closer_look(suspect: F32, original: F32, h_full: Mat, inliers: int) -> Registration | None:
    """Re-match against the region of the original the suspect came from, at finer scale."""
    oh, ow = original.shape
    sh, sw = suspect.shape
    corners = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float64).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, h_full).reshape(-1, 2)
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int)
    margin = int(0.1 * max(x1 - x0, y1 - y0))
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(ow, x1 + margin), min(oh, y1 + margin)
    if x1 - x0 < 32 or y1 - y0 < 32:
        return None
    region_long = max(x1 - x0, y1 - y0)
    # Only worth it when the first pass saw the region at much less than the suspect's
    # detail, and not when it already matched plenty over a fair area (ECC does the rest).
    first_pass = region_long * min(1.0, MATCH_SIDE / max(oh, ow))
    if first_pass >= 0.6 * min(max(sh, sw), MATCH_SIDE):
        return None
    if inliers >= 3 * CONFIDENT_INLIERS and first_pass >= 256:
        return None
    crop = original[y0:y1, x0:x1]
    kp_s, d_s, sfx, sfy = _features(suspect, CLOSE_SIDE)
    kp_c, d_c, cfx, cfy = _features(crop, min(CLOSE_SIDE, max(int(max(sh, sw) * 1.2), 256)))
    found = _fit(kp_s, d_s, kp_c, d_c)
    if found is None:
        return None
    h_small, close_inliers = found
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    h = shift @ np.linalg.inv(_scale_matrix(cfx, cfy)) @ h_small @ _scale_matrix(sfx, sfy)
    return Registration(h, close_inliers)


def _grid_matrix(grid: Grid) -> Mat:
    """Grid samples -> original full-size pixels (inverse of the embed's resize)."""
    sx, sy = grid.sample_x, grid.sample_y
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def suspect_on_grid(
    suspect: F32, reg: Registration, grid: Grid, correction: Mat | None = None
) -> tuple[F32, B8]:
    """The suspect resampled onto the original's embedding grid, with its coverage."""
    to_suspect = np.linalg.inv(reg.homography) @ _grid_matrix(grid)
    if correction is not None:
        to_suspect = to_suspect @ correction
    to_suspect /= to_suspect[2, 2]
    # Suspect pixels per grid sample at the grid centre: shrink first if more than one,
    # so the warp does not alias.
    cx, cy = grid.grid_width / 2.0, grid.grid_height / 2.0
    jac = _jacobian(to_suspect, cx, cy)
    density = math.sqrt(abs(float(np.linalg.det(jac))))
    source = suspect
    if density > 1.25:
        f = 1.0 / density
        h, w = suspect.shape
        nw, nh = max(1, round(w * f)), max(1, round(h * f))
        source = np.asarray(
            cv2.resize(suspect, (nw, nh), interpolation=cv2.INTER_AREA), dtype=np.float32
        )
        to_suspect = _scale_matrix(nw / w, nh / h) @ to_suspect
    size = (grid.grid_width, grid.grid_height)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(
        source, to_suspect, size, flags=flags, borderMode=cv2.BORDER_CONSTANT
    )
    cover = cv2.warpPerspective(
        np.ones_like(source), to_suspect, size, flags=flags, borderMode=cv2.BORDER_CONSTANT
    )
    inner = cv2.erode((np.asarray(cover) > 0.999).astype(np.uint8), np.ones((3, 3), np.uint8))
    return np.asarray(warped, dtype=np.float32), np.asarray(inner) > 0


def _jacobian(h: Mat, x: float, y: float) -> Mat:
    d = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = h[0, 0] * x + h[0, 1] * y + h[0, 2]
    v = h[1, 0] * x + h[1, 1] * y + h[1, 2]
    return np.array(
        [
            [(h[0, 0] * d - u * h[2, 0]) / d**2, (h[0, 1] * d - u * h[2, 1]) / d**2],
            [(h[1, 0] * d - v * h[2, 0]) / d**2, (h[1, 1] * d - v * h[2, 1]) / d**2],
        ]
    )


def refine_ecc(warped: F32, valid: B8, reference: F32) -> Mat | None:
    """Sub-sample correction (grid -> warped-grid affine) by ECC against the original."""
    ys, xs = np.nonzero(valid)
    if ys.size < 64 * 64:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ref = np.ascontiguousarray(reference[y0:y1, x0:x1])
    img = np.ascontiguousarray(warped[y0:y1, x0:x1])
    mask = np.ascontiguousarray(valid[y0:y1, x0:x1]).astype(np.uint8)
    start = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    try:
        _, found = cv2.findTransformECC(ref, img, start, cv2.MOTION_AFFINE, criteria, mask, 3)
    except cv2.error:
        # ECC did not converge (too little texture): keep the feature registration.
        return None
    # Back to full-grid coordinates: x_img = A (x - o) + t + o.
    a = np.vstack([np.asarray(found, dtype=np.float64), [0.0, 0.0, 1.0]])
    o = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    correction: Mat = o @ a @ np.linalg.inv(o)
    if np.abs(correction[:2, 2]).max() > 8 or np.abs(correction[:2, :2] - np.eye(2)).max() > 0.05:
        return None
    return correction


def _tone_match(reference: F32, target: F32, valid: B8) -> F32:
    """Map reference grey levels to what the suspect shows for them (brightness, contrast,
    gamma, any monotone curve): binned conditional means, interpolated."""
    ref = reference[valid]
    tgt = target[valid]
    if ref.size < 100:
        return reference
    edges = np.linspace(0.0, 256.0, 65)
    idx = np.clip(np.digitize(ref, edges) - 1, 0, 63)
    sums = np.bincount(idx, weights=tgt, minlength=64)
    counts = np.bincount(idx, minlength=64)
    ok = counts >= 8
    if ok.sum() < 2:
        return reference
    centres = ((edges[:-1] + edges[1:]) / 2.0)[ok]
    means = sums[ok] / counts[ok]
    return np.interp(reference, centres, means).astype(np.float32)


def difference(warped: F32, valid: B8, reference: F32) -> tuple[F32, F32]:
    """Suspect minus original (tone and sharpness matched), high-passed; and sample weights."""
    best: tuple[float, F32] | None = None
    for sigma in (0.0, 0.6, 1.0, 1.5, 2.2):
        ref = reference
        if sigma > 0:
            ref = np.asarray(cv2.GaussianBlur(reference, (0, 0), sigma), dtype=np.float32)
        diff = warped - _tone_match(ref, warped, valid)
        energy = float(np.mean(diff[valid] ** 2)) if valid.any() else 0.0
        if best is None or energy < best[0]:
            best = (energy, diff)
    if best is None:  # pragma: no cover - loop always runs
        raise AssertionError
    diff = np.where(valid, best[1], 0.0).astype(np.float32)
    high = diff - cv2.GaussianBlur(diff, (0, 0), DIFF_SIGMA)
    # Misregistered edges leave large differences: weigh samples by inverse local power.
    power = cv2.GaussianBlur(high * high, (0, 0), 3.0) + 0.25
    return high.astype(np.float32), (1.0 / power).astype(np.float32)


def extract(
    marks: Mapping[str, Watermarker],
    suspect: F32,
    original_rgb: U8Image,
    candidates: Iterable[int] | None,
    *,
    placement: npt.ArrayLike | None = None,
) -> tuple[Extraction, bool]:
    """Informed extraction under every key.

    Also says whether the suspect was registered with confidence (many feature inliers, or
    a ``placement`` the caller knows): then a failed read is final, since the blind reader
    sees strictly less.
    """
    absent = Extraction(payload=None, confidence=0.0, method="informed")
    original = luminance(original_rgb)
    reg = register(suspect, original) if placement is None else _placed(placement)
    if reg is None:
        return absent, False
    oh, ow = original.shape
    grid = Grid.for_size(ow, oh)
    warped, valid = suspect_on_grid(suspect, reg, grid)
    if valid.sum() < PERIOD * PERIOD // 2:
        return absent, False
    confident = reg.inliers >= CONFIDENT_INLIERS
    reference = grid_luma(
        np.asarray(cv2.cvtColor(original_rgb, cv2.COLOR_RGB2GRAY), np.uint8), grid
    )
    correction = refine_ecc(warped, valid, reference)
    if correction is not None:
        warped, valid = suspect_on_grid(suspect, reg, grid, correction)
    high, weight = difference(warped, valid, reference)
    amp = amplitude(reference)
    w = np.where(valid, weight * amp, 0.0).astype(np.float32)
    # Weighted fold: estimate of the (unit-amplitude) pattern per tile sample.
    num, _ = fold(high * w, None)
    den, _ = fold(amp * w, None)
    folded = (num / np.maximum(den, 1e-6)).astype(np.float32)
    scale = _similarity(reg.homography)
    attempts = 0
    best_score = 0.0
    cand_list = None if candidates is None else sorted({int(c) for c in candidates})
    for version, mark in marks.items():
        result = mark._read_informed(folded, cand_list)
        attempts += result.attempts
        best_score = max(best_score, result.pilot_score)
        if result.payload is not None:
            found = Extraction(
                payload=result.payload,
                confidence=result.confidence,
                method="informed",
                key_version=version or None,
                pilot_score=result.pilot_score,
                bit_errors=result.bit_errors,
                cell_pitch=scale[0] * max(grid.sample_x, grid.sample_y) * OVERSAMPLE,
                angle=scale[1],
                attempts=attempts,
            )
            return found, confident
    none = Extraction(
        payload=None, confidence=0.0, method="informed", pilot_score=best_score, attempts=attempts
    )
    return none, confident


def _placed(placement: npt.ArrayLike) -> Registration:
    """A registration the caller already knows (suspect pixels -> original pixels)."""
    given = np.asarray(placement, dtype=np.float64)
    if given.shape == (2, 3):
        given = np.vstack([given, [0.0, 0.0, 1.0]])
    if given.shape != (3, 3) or not np.isfinite(given).all():
        raise ValueError("placement must be a finite 2 x 3 or 3 x 3 matrix")
    return Registration(given, CONFIDENT_INLIERS)


def _similarity(h: Mat) -> tuple[float, float]:
    """Scale (suspect pixels per original pixel) and rotation (degrees) of a homography."""
    inv = np.linalg.inv(h)
    a = inv[:2, :2] / inv[2, 2]
    scale = math.sqrt(abs(float(np.linalg.det(a))))
    angle = math.degrees(math.atan2(float(a[1, 0] - a[0, 1]), float(a[0, 0] + a[1, 1])))
    return scale, angle
