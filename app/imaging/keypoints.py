"""ORB key points of a photo at two scales: what the leak investigation's crop-robust index
holds of each photo, made when the photo is processed.

* The **preview** (1600 px): :data:`INDEX_FEATURES` points of the whole picture, for copies
  that show most of it (screenshots, resized copies, large crops).
* **Tiles of the master** at :data:`TILE_LONG_SIDE`: at most :data:`TILE_FEATURES` points in
  each :data:`TILE_SIDE` pixel square. A face cut from a 12 MP photo (a tenth of its width)
  is 160 preview pixels, where the strongest 500 points of the whole preview leave it only a
  handful; the tiles give every part of the photo its share of points, found on finer
  detail.

Both sets are in preview pixels, so one similarity transform places a suspect's region
whichever scale its points came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

#: Points of the preview kept per indexed photo.
INDEX_FEATURES: Final = 500
#: The analysed size of the master for the second scale (twice the preview's).
TILE_LONG_SIDE: Final = 3200
#: Side of one tile at that size, and the points kept in it.
TILE_SIDE: Final = 400
TILE_FEATURES: Final = 30
#: Which points an index row holds: 1 = the preview's only, 2 = the preview's and tiles'.
FEATURE_SCHEME: Final = 2
DESCRIPTOR_BYTES: Final = 32
#: Points are looked for this far around a tile too, so corners on its edge are found.
_TILE_MARGIN: Final = 32

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Features:
    """Key points (x, y) in the analysed image, their descriptors, and its size."""

    points: F32Array  # (n, 2)
    descriptors: U8Array  # (n, 32)
    width: int
    height: int

    def to_bytes(self) -> tuple[bytes, bytes]:
        return self.points.astype(np.float32).tobytes(), self.descriptors.tobytes()

    @classmethod
    def from_bytes(cls, points: bytes, descriptors: bytes, width: int, height: int) -> Features:
        pts = np.frombuffer(points, np.float32).reshape(-1, 2)
        desc = np.frombuffer(descriptors, np.uint8).reshape(-1, DESCRIPTOR_BYTES)
        return cls(pts, desc, width, height)

    @classmethod
    def empty(cls, width: int, height: int) -> Features:
        return cls(
            np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), width, height
        )


def _gray(image: Image.Image, long_side: int) -> tuple[U8Array, float]:
    """8-bit luminance at most ``long_side`` pixels, and the factor back to the image."""
    scale = min(1.0, long_side / max(image.size))
    gray = image.convert("L")
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(gray, np.uint8), scale


def _orb(features: int) -> object:
    import cv2

    # OpenCV's stubs do not list the factory functions of its feature detectors.
    return cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=features, scaleFactor=1.2, nlevels=8, fastThreshold=10
    )


def _detect_gray(gray: U8Array, features: int) -> tuple[F32Array, U8Array]:
    orb = _orb(features)
    keypoints, descriptors = orb.detectAndCompute(gray, None)  # type: ignore[attr-defined]
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    points = np.array([kp.pt for kp in keypoints], np.float32)
    return points, np.asarray(descriptors, np.uint8)


def detect(image: Image.Image, *, features: int, long_side: int = 1600) -> Features:
    """ORB points of ``image`` (coordinates in the image's own pixels)."""
    gray, scale = _gray(image, long_side)
    points, descriptors = _detect_gray(gray, features)
    return Features(points / np.float32(scale), descriptors, image.width, image.height)


def detect_tiles(
    image: Image.Image,
    *,
    long_side: int = TILE_LONG_SIDE,
    tile: int = TILE_SIDE,
    per_tile: int = TILE_FEATURES,
) -> Features:
    """ORB points of ``image`` at most ``long_side`` pixels, at most ``per_tile`` in each
    ``tile`` square (coordinates in the image's own pixels)."""
    gray, scale = _gray(image, long_side)
    height, width = gray.shape
    points: list[F32Array] = []
    descriptors: list[U8Array] = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(height, top + tile), min(width, left + tile)
            x0, y0 = max(0, left - _TILE_MARGIN), max(0, top - _TILE_MARGIN)
            x1, y1 = min(width, right + _TILE_MARGIN), min(height, bottom + _TILE_MARGIN)
            found, described = _detect_gray(np.ascontiguousarray(gray[y0:y1, x0:x1]), per_tile)
            if not len(found):
                continue
            found = found + np.array([x0, y0], np.float32)
            mine = (
                (found[:, 0] >= left)
                & (found[:, 0] < right)
                & (found[:, 1] >= top)
                & (found[:, 1] < bottom)
            )
            points.append(found[mine])
            descriptors.append(described[mine])
    if not points:
        return Features.empty(image.width, image.height)
    return Features(
        (np.concatenate(points) / np.float32(scale)).astype(np.float32),
        np.ascontiguousarray(np.concatenate(descriptors)),
        image.width,
        image.height,
    )


def index_features(preview: Image.Image, master: Image.Image) -> Features:
    """A photo's index points: the preview's and the master's tiles', in preview pixels."""
    whole = detect(preview, features=INDEX_FEATURES, long_side=max(preview.size))
    tiles = detect_tiles(master)
    to_preview = np.array(
        [preview.width / master.width, preview.height / master.height], np.float32
    )
    return Features(
        np.concatenate([whole.points, tiles.points * to_preview]).astype(np.float32),
        np.ascontiguousarray(np.concatenate([whole.descriptors, tiles.descriptors])),
        preview.width,
        preview.height,
    )
