"""The crop-robust index: ORB local features of each photo (its preview, and tiles of its
master at a finer scale: :mod:`app.imaging.keypoints`), and finding which photos a suspect
shares a region with.

Whole-image perceptual hashes find a recompressed or resized copy, but not a 25 % crop, a
face cut out of a group photo, or a face pasted into another picture. Local features do:
a region that came from a photo keeps many of its corner-like points and their binary
descriptors, whatever was cropped away or pasted around it. A candidate is accepted only
when enough matches agree on one similarity transform (scale, rotation, shift: what a
crop, a resize, a screenshot and a pasted region are), found by RANSAC, so texture that
happens to look alike in two unrelated photos does not make a candidate.

No Flask and no database here: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.imaging import keypoints
from app.imaging.keypoints import (
    DESCRIPTOR_BYTES,
    INDEX_FEATURES,
    F32Array,
    Features,
    U8Array,
)

#: Points looked for in a suspect (more: it may hold a small region among other content).
SUSPECT_FEATURES: Final = 3000
#: A suspect is analysed at most this large (the index's coordinates are preview pixels).
SUSPECT_LONG_SIDE: Final = 1600
#: Lowe's ratio test between the best and second-best neighbour.
RATIO: Final = 0.8
#: Neighbours looked at per suspect point: the nearest, and the nearest of another place.
NEIGHBOURS: Final = 3
#: Index points of one photo this close (preview pixels) are one place seen at two scales.
SAME_PLACE_PX: Final = 3.0
#: Hamming distance above which a descriptor match is never believed (of 256 bits).
MAX_DISTANCE: Final = 64
#: Photos whose vote count is examined geometrically, strongest first.
MAX_VERIFIED: Final = 8
MIN_VOTES: Final = 6
#: Matches that must agree on one transform for a photo to be a candidate.
MIN_INLIERS: Final = 10
#: Placements outside these scales (suspect pixel to preview pixel) are not believed: a
#: leaked copy is not blown up 20 times nor shrunk to a twentieth.
MIN_SCALE: Final = 0.05
MAX_SCALE: Final = 20.0
#: The matched points must spread over at least this much of the preview, both ways.
MIN_SPREAD_PX: Final = 24.0
#: RANSAC's tolerance, in preview pixels.
REPROJECTION_PX: Final = 6.0


__all__ = [
    "INDEX_FEATURES",
    "SUSPECT_FEATURES",
    "Features",
    "Index",
    "RegionMatch",
    "detect",
    "find_regions",
    "pasted_box",
]


@dataclass(frozen=True)
class RegionMatch:
    """A photo the suspect shares a region with.

    ``suspect_box`` and ``photo_box`` are (left, top, right, bottom) in the suspect's own
    pixels and in the photo's preview pixels; ``scale`` and ``angle`` take the suspect's
    region to the preview.
    """

    photo_id: int
    votes: int
    inliers: int
    suspect_box: tuple[int, int, int, int]
    photo_box: tuple[int, int, int, int]
    scale: float
    angle: float
    #: The similarity transform from suspect pixels to preview pixels (2 x 3, row-major).
    matrix: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    #: The matched points that agree on it, in the suspect's pixels.
    points: tuple[tuple[float, float], ...] = ()


def detect(image: Image.Image, *, features: int, long_side: int = SUSPECT_LONG_SIDE) -> Features:
    """ORB points of ``image`` (coordinates in the image's own pixels)."""
    return keypoints.detect(image, features=features, long_side=long_side)


@dataclass
class Index:
    """Every indexed photo's descriptors in one matrix, and a vote table over them.

    Exact nearest neighbours over every descriptor of 10,000 photos would take minutes
    (millions of descriptors), so a search first shortlists photos: each descriptor is cut
    into :data:`CHUNKS` pieces of :data:`CHUNK_BYTES` bytes, and every piece of a suspect's
    descriptor that occurs verbatim in a photo's descriptor is a vote for that photo. Two
    descriptors of the same point (Hamming distance 30 of 256) share a given 3-byte piece
    with probability about 0.03; two unrelated ones with probability 2^-24. A photo that
    shares a region with the suspect collects votes from dozens of points, an unrelated one
    almost none. Only the shortlisted photos are then matched exactly.
    """

    photo_ids: npt.NDArray[np.int32]  # (N,) the photo of each row
    points: F32Array  # (N, 2)
    descriptors: U8Array  # (N, 32)
    #: Per chunk: the chunk's values sorted, and the rows they belong to in that order.
    _keys: list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32]]] = field(
        default_factory=list, repr=False
    )
    #: Per photo (sorted): its first and past-last row; set when loaded from disk.
    _runs: tuple[npt.NDArray[np.int64], ...] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, entries: Sequence[tuple[int, Features]]) -> Index:
        kept = [(pid, f) for pid, f in entries if len(f.descriptors)]
        if not kept:
            return cls(
                np.zeros(0, np.int32),
                np.zeros((0, 2), np.float32),
                np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
            )
        ids = np.concatenate([np.full(len(f.descriptors), pid, np.int32) for pid, f in kept])
        return cls(
            ids,
            np.concatenate([f.points for _, f in kept]).astype(np.float32),
            np.ascontiguousarray(np.concatenate([f.descriptors for _, f in kept])),
        )

    @property
    def nbytes(self) -> int:
        keys = sum(values.nbytes + rows.nbytes for values, rows in self._keys)
        return int(self.photo_ids.nbytes + self.points.nbytes + self.descriptors.nbytes + keys)

    def __len__(self) -> int:
        return len(self.photo_ids)

    def _vote_table(self) -> list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32]]]:
        if not self._keys:
            for values in _chunk_values(self.descriptors):
                order = np.argsort(values).astype(np.int32)
                self._keys.append((values[order], order))
        return self._keys

    def shortlist(self, descriptors: U8Array, size: int) -> npt.NDArray[np.int64]:
        """The ``size`` photos whose descriptors share the most chunks with these."""
        votes: dict[int, int] = {}
        for (values, rows), wanted in zip(
            self._vote_table(), _chunk_values(descriptors), strict=True
        ):
            left = np.searchsorted(values, wanted, side="left")
            right = np.searchsorted(values, wanted, side="right")
            hits = right - left
            if not hits.any():
                continue
            # Every row of every hit range, without a Python loop over the hits.
            starts = np.repeat(left - np.cumsum(hits) + hits, hits)
            positions = starts + np.arange(int(hits.sum()))
            owners, counts = np.unique(self.photo_ids[rows[positions]], return_counts=True)
            for owner, count in zip(owners.tolist(), counts.tolist(), strict=True):
                votes[owner] = votes.get(owner, 0) + count
        ranked = sorted(votes, key=lambda owner: -votes[owner])
        return np.array([o for o in ranked[:size] if votes[o] >= MIN_CHUNK_VOTES], np.int64)

    def subset(self, photo_ids: npt.NDArray[np.int64]) -> Index:
        """The rows of these photos only (no vote table: it is matched exactly)."""
        if self._runs is not None:
            # Rows are grouped by photo: slices, without reading every row's photo id (the
            # arrays may be memory-mapped files far larger than what a search touches).
            owners, starts, stops = self._runs
            found = np.searchsorted(owners, photo_ids)
            pieces = [
                slice(int(starts[k]), int(stops[k]))
                for k, wanted in zip(found.tolist(), photo_ids.tolist(), strict=True)
                if k < len(owners) and owners[k] == wanted
            ]
            if not pieces:
                return Index(
                    np.zeros(0, np.int32),
                    np.zeros((0, 2), np.float32),
                    np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
                )
            return Index(
                np.concatenate([self.photo_ids[p] for p in pieces]),
                np.concatenate([self.points[p] for p in pieces]),
                np.concatenate([self.descriptors[p] for p in pieces]),
            )
        rows = np.isin(self.photo_ids, photo_ids)
        return Index(self.photo_ids[rows], self.points[rows], self.descriptors[rows])

    # -- kept on disk ----------------------------------------------------------------------

    def _photo_runs(self) -> tuple[npt.NDArray[np.int64], ...]:
        """Each photo's first and past-last row, photos sorted (rows must be grouped)."""
        ids = np.asarray(self.photo_ids)
        if len(ids) == 0:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty
        change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
        stops = np.concatenate([change, [len(ids)]]).astype(np.int64)
        owners = ids[starts].astype(np.int64)
        order = np.argsort(owners, kind="stable")
        if len(np.unique(owners)) != len(owners):
            raise ValueError("the rows of a photo must be together")
        return owners[order], starts[order], stops[order]

    def save(self, directory: Path) -> None:
        """Write the arrays, the vote table included, as .npy files into ``directory``."""
        directory.mkdir(parents=True, exist_ok=False, mode=0o700)
        arrays: dict[str, npt.NDArray[Any]] = {
            "photo_ids": np.asarray(self.photo_ids),
            "points": np.asarray(self.points),
            "descriptors": np.asarray(self.descriptors),
        }
        for name, array in zip(("owners", "starts", "stops"), self._photo_runs(), strict=True):
            arrays[name] = array
        for k, (values, rows) in enumerate(self._vote_table()):
            arrays[f"values{k}"] = values
            arrays[f"rows{k}"] = rows
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Index:
        """An index saved by :meth:`save`, memory-mapped: processes share its pages, and a
        search reads only the pages it touches."""

        def array(name: str) -> npt.NDArray[Any]:
            loaded: npt.NDArray[Any] = np.load(
                directory / f"{name}.npy", mmap_mode="r", allow_pickle=False
            )
            return loaded

        index = cls(array("photo_ids"), array("points"), array("descriptors"))
        index._keys = [(array(f"values{k}"), array(f"rows{k}")) for k in range(CHUNKS)]
        index._runs = (array("owners"), array("starts"), array("stops"))
        return index


#: Descriptor pieces that vote, and their size (10 x 3 of the 32 bytes).
CHUNKS: Final = 6
CHUNK_BYTES: Final = 3
#: Indexes with more rows than this are shortlisted before the exact match (OpenCV's
#: brute-force matcher also refuses more than 2^18 rows at once).
EXACT_ROWS: Final = 150_000
SHORTLIST: Final = 24
MIN_CHUNK_VOTES: Final = 3


def _chunk_values(descriptors: U8Array) -> list[npt.NDArray[np.uint32]]:
    """Each chunk of every descriptor as one integer (big-endian bytes, zero-padded)."""
    padded = np.zeros((len(descriptors), 4), np.uint8)
    values = []
    for k in range(CHUNKS):
        padded[:, 4 - CHUNK_BYTES :] = descriptors[:, k * CHUNK_BYTES : (k + 1) * CHUNK_BYTES]
        values.append(padded.view(">u4").ravel().astype(np.uint32))
    return values


def _box(points: F32Array) -> tuple[int, int, int, int]:
    left, top = np.floor(points.min(axis=0)).astype(int)
    right, bottom = np.ceil(points.max(axis=0)).astype(int)
    return int(left), int(top), int(right), int(bottom)


def _placement(src: F32Array, dst: F32Array, rows: npt.NDArray[np.intp]) -> RegionMatch | None:
    """The similarity transform most matches agree on, if it is a believable placement."""
    import cv2

    cv2.setRNGSeed(len(rows))  # the same suspect gets the same answer every time
    # OpenCV's stubs promise arrays; it returns None when no model fits.
    matrix: Any
    inlier_mask: Any
    matrix, inlier_mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJECTION_PX, maxIters=4000
    )
    if matrix is None or inlier_mask is None:
        return None
    inliers = inlier_mask.ravel().astype(bool)
    count = int(inliers.sum())
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    # A transform that folds many suspect points onto a few photo points (repeated texture
    # matched over and over) is no placement of a region.
    distinct = len(np.unique(rows[inliers]))
    if count < MIN_INLIERS or distinct < MIN_INLIERS or not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    spread = dst[inliers].max(axis=0) - dst[inliers].min(axis=0)
    if spread.min() < MIN_SPREAD_PX:
        return None
    return RegionMatch(
        photo_id=0,
        votes=0,
        inliers=count,
        suspect_box=_box(src[inliers]),
        photo_box=_box(dst[inliers]),
        scale=scale,
        angle=float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]))),
        matrix=(
            float(matrix[0, 0]),
            float(matrix[0, 1]),
            float(matrix[0, 2]),
            float(matrix[1, 0]),
            float(matrix[1, 1]),
            float(matrix[1, 2]),
        ),
        points=tuple((float(x), float(y)) for x, y in src[inliers]),
    )


def find_regions(
    suspect: Features, index: Index, *, exact_rows: int = EXACT_ROWS
) -> list[RegionMatch]:
    """Photos of ``index`` that share a region with the suspect, most inliers first."""
    import cv2

    if len(index) < 2 or len(suspect.descriptors) == 0:
        return []
    if len(index) > exact_rows:
        index = index.subset(index.shortlist(suspect.descriptors, SHORTLIST))
        if len(index) < 2:
            return []
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(suspect.descriptors, index.descriptors, k=NEIGHBOURS)
    query, train = [], []
    for pair in pairs:
        if len(pair) < 2:
            continue
        best = pair[0]
        if best.distance > MAX_DISTANCE:
            continue
        # The ratio test is against the nearest descriptor of another place: the same
        # corner found at both scales of one photo is not an ambiguity.
        here = index.points[best.trainIdx]
        owner = index.photo_ids[best.trainIdx]
        second = next(
            (
                other
                for other in pair[1:]
                if index.photo_ids[other.trainIdx] != owner
                or np.abs(index.points[other.trainIdx] - here).max() > SAME_PLACE_PX
            ),
            None,
        )
        if second is None or best.distance < RATIO * second.distance:
            query.append(best.queryIdx)
            train.append(best.trainIdx)
    if not query:
        return []
    q = np.array(query)
    t = np.array(train)
    owners = index.photo_ids[t]
    ids, votes = np.unique(owners, return_counts=True)
    order = np.argsort(-votes, kind="stable")
    found = []
    for k in order[:MAX_VERIFIED]:
        if votes[k] < MIN_VOTES:
            break
        mine = owners == ids[k]
        placed = _placement(suspect.points[q[mine]], index.points[t[mine]], t[mine])
        if placed is not None:
            found.append(replace(placed, photo_id=int(ids[k]), votes=int(votes[k])))
    found.sort(key=lambda match: -match.inliers)
    return found


#: Local correlation of fine detail above which the suspect shows the photo's own pixels.
SAME_DETAIL: Final = 0.5
#: Fine detail (grey levels) of the photo below which agreement is no evidence: flat areas
#: of the picture around a pasted part agree with flat areas of the photo by chance.
MIN_DETAIL: Final = 2.0
#: A pasted part smaller than this (pixels of the suspect) is not worth reading alone.
MIN_PASTED_AREA: Final = 96 * 96


#: Tolerance (suspect pixels) of the closer look that places a pasted part exactly.
CLOSE_REPROJECTION_PX: Final = 2.0

Matrix = tuple[float, float, float, float, float, float]


def _as_tuple(m: npt.NDArray[np.float64]) -> Matrix:
    return (
        float(m[0, 0]),
        float(m[0, 1]),
        float(m[0, 2]),
        float(m[1, 0]),
        float(m[1, 1]),
        float(m[1, 2]),
    )


def refine_placement(
    suspect: Image.Image,
    photo: Image.Image,
    matrix: Matrix,
    points: Sequence[tuple[float, float]],
) -> Matrix:
    """A closer look at where the matched points are: ``matrix`` (suspect pixels to
    ``photo`` pixels) made exact to a pixel or two, or returned as it is.

    The index places a region to within a few preview pixels; comparing fine detail (and
    reading a mark) needs better. The matched part of the suspect and the photo's matching
    part, brought to the same scale, are matched again with their own points.
    """
    import cv2

    if len(points) < MIN_INLIERS:
        return matrix
    m = np.array(matrix, np.float64).reshape(2, 3)
    xy = np.array(points, np.float64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    pad = 0.5 * (high - low) + 16
    sx0, sy0 = np.maximum(0, np.floor(low - pad)).astype(int)
    sx1 = int(min(suspect.width, np.ceil(high[0] + pad[0])))
    sy1 = int(min(suspect.height, np.ceil(high[1] + pad[1])))
    corners = np.array([[sx0, sy0, 1], [sx1, sy0, 1], [sx1, sy1, 1], [sx0, sy1, 1]], np.float64)
    mapped = corners @ m.T
    px0, py0 = np.maximum(0, np.floor(mapped.min(axis=0))).astype(int)
    px1 = int(min(photo.width, np.ceil(mapped[:, 0].max())))
    py1 = int(min(photo.height, np.ceil(mapped[:, 1].max())))
    if sx1 - sx0 < 32 or sy1 - sy0 < 32 or px1 - px0 < 32 or py1 - py0 < 32:
        return matrix
    shrink = float(np.hypot(m[0, 0], m[1, 0]))  # photo pixels per suspect pixel
    part = photo.crop((px0, py0, px1, py1)).convert("L")
    size = (max(32, round(part.width / shrink)), max(32, round(part.height / shrink)))
    part = part.resize(size, Image.Resampling.LANCZOS)
    ours = keypoints.detect(suspect.crop((sx0, sy0, sx1, sy1)), features=SUSPECT_FEATURES)
    theirs = keypoints.detect(part, features=SUSPECT_FEATURES, long_side=max(part.size))
    if len(ours.descriptors) < MIN_INLIERS or len(theirs.descriptors) < MIN_INLIERS:
        return matrix
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(ours.descriptors, theirs.descriptors, k=2)
    good = [
        p[0]
        for p in pairs
        if len(p) == 2 and p[0].distance <= MAX_DISTANCE and p[0].distance < RATIO * p[1].distance
    ]
    if len(good) < MIN_INLIERS:
        return matrix
    src = np.array([ours.points[g.queryIdx] for g in good], np.float32)
    dst = np.array([theirs.points[g.trainIdx] for g in good], np.float32)
    cv2.setRNGSeed(len(good))
    found: Any
    mask: Any
    found, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=CLOSE_REPROJECTION_PX, maxIters=4000
    )
    if found is None or mask is None or int(mask.sum()) < MIN_INLIERS:
        return matrix
    # suspect -> suspect part -> photo part at the suspect's scale -> photo.
    into_part = np.array([[1.0, 0.0, -sx0], [0.0, 1.0, -sy0], [0.0, 0.0, 1.0]])
    out_of_part = np.array(
        [
            [(px1 - px0) / part.width, 0.0, px0],
            [0.0, (py1 - py0) / part.height, py0],
            [0.0, 0.0, 1.0],
        ]
    )
    close = np.vstack([np.asarray(found, np.float64), [0.0, 0.0, 1.0]])
    return _as_tuple((out_of_part @ close @ into_part)[:2])


def pasted_box(
    suspect: Image.Image,
    photo: Image.Image,
    matrix: Matrix,
    points: Sequence[tuple[float, float]],
) -> tuple[int, int, int, int] | None:
    """Where in ``suspect`` the photo's own pixels are, when it holds only a part of it.

    ``matrix`` takes suspect pixels to ``photo`` pixels (the preview's, or the master's for
    a part much finer than the preview); ``points`` are the matched points in the suspect.
    The photo is laid onto the suspect; where the two agree on detail (a face cut out and
    pasted, with whatever else around it) is gathered into areas, and the area holding most
    matched points is the part a mark can be read from. None when no such area stands out.
    """
    import cv2

    if not points:
        return None
    m = np.array(matrix, np.float64).reshape(2, 3)
    back = cv2.invertAffineTransform(m)
    size = (suspect.width, suspect.height)
    ours = np.asarray(suspect.convert("L"), np.float32)
    theirs = np.asarray(photo.convert("L"), np.float32)
    shrink = float(np.hypot(m[0, 0], m[1, 0]))  # photo pixels per suspect pixel
    if shrink > 1.5:
        # Laid down smaller: blur first, so the warp does not alias.
        theirs = np.asarray(cv2.GaussianBlur(theirs, (0, 0), 0.4 * shrink), np.float32)
    laid = cv2.warpAffine(theirs, back, size, flags=cv2.INTER_LINEAR)
    covered = cv2.warpAffine(np.ones_like(theirs), back, size, flags=cv2.INTER_NEAREST) > 0
    # Fine detail is compared by its local correlation, which no change of brightness or
    # contrast of the pasted part alters.
    ours_fine = ours - cv2.GaussianBlur(ours, (0, 0), 2.0)
    laid_fine = laid - cv2.GaussianBlur(laid, (0, 0), 2.0)
    both = cv2.GaussianBlur(ours_fine * laid_fine, (0, 0), 4.0)
    ours_power = cv2.GaussianBlur(ours_fine * ours_fine, (0, 0), 4.0)
    laid_power = cv2.GaussianBlur(laid_fine * laid_fine, (0, 0), 4.0)
    correlation = both / np.sqrt(ours_power * laid_power + 1e-6)
    evidence = (covered & (correlation > SAME_DETAIL) & (np.sqrt(laid_power) > MIN_DETAIL)).astype(
        np.uint8
    )
    evidence = cv2.morphologyEx(
        evidence, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    )
    # Flat patches inside the pasted part are no evidence either way: bridge them.
    evidence = cv2.morphologyEx(
        evidence, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25))
    )
    xy = np.array(points, np.float64)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(evidence, connectivity=8)
    if count < 2:
        return None
    px = np.clip(np.round(xy[:, 0]).astype(int), 0, suspect.width - 1)
    py = np.clip(np.round(xy[:, 1]).astype(int), 0, suspect.height - 1)
    held = np.bincount(labels[py, px], minlength=count)[1:]
    if held.max() == 0:
        return None
    chosen = 1 + int(np.argmax(held))
    left, top, width, height, area = (int(v) for v in stats[chosen])
    if area < MIN_PASTED_AREA:
        return None
    return left, top, left + width, top + height
