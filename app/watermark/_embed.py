"""Embedding: a texture-weighted copy of the tiled pattern added to luminance.

The pattern is computed on a "grid" image at two samples per cell (about 1024 samples on
the long side of a large photo) and only the final difference is scaled up to full size, so
a 12 MP photo costs a few small-array operations plus one resize and one saturating add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops

from ._pattern import OVERSAMPLE, TILE, TileLayout, upsample_cells

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

# Cell pitch in full-size pixels: 1/512 of the long side, so that a copy scaled to a
# 1280-pixel screenshot still has cells of 2.5 pixels; never below 4 pixels, so that a
# small photo halved in size still has cells of 2 pixels.
CELLS_ON_LONG_SIDE = 512
MIN_PITCH = 4.0

# Amplitude in grey levels: FLOOR on flat areas (skin, sky), growing with local contrast
# (GAIN per grey level of local standard deviation) up to CEILING in busy texture, where
# the eye does not see it. The whole mark is then scaled down if needed so its RMS stays at
# or under MAX_RMS (PSNR >= 44 dB before rounding).
FLOOR = 0.6
GAIN = 0.25
CEILING = 4.0
MAX_RMS = 255.0 / 10 ** (44.2 / 20)
# Window (in grid samples) over which local contrast is measured: about 2.5 cells.
TEXTURE_WINDOW = 5


@dataclass(frozen=True, slots=True)
class Grid:
    """How a photo of a given size maps onto pattern samples (two per cell)."""

    width: int
    height: int
    grid_width: int
    grid_height: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Grid:
        pitch = max(MIN_PITCH, max(width, height) / CELLS_ON_LONG_SIDE)
        return cls(
            width,
            height,
            max(1, round(width * OVERSAMPLE / pitch)),
            max(1, round(height * OVERSAMPLE / pitch)),
        )

    @property
    def sample_x(self) -> float:
        """Full-size pixels per grid sample along x."""
        return self.width / self.grid_width

    @property
    def sample_y(self) -> float:
        return self.height / self.grid_height


def tiled_pattern(
    layout: TileLayout, cells: F32, origin: tuple[int, int], shape: tuple[int, int]
) -> F32:
    """The pattern at grid resolution, tiles starting at `origin` (cells)."""
    ox, oy = origin
    tile = upsample_cells(np.roll(cells, (oy, ox), axis=(0, 1)))
    period = TILE * OVERSAMPLE
    reps = (math.ceil(shape[0] / period), math.ceil(shape[1] / period))
    return np.ascontiguousarray(np.tile(tile, reps)[: shape[0], : shape[1]])


def amplitude(grid_luma: F32) -> F32:
    """Per-sample amplitude: weak where the image is flat, strong in texture."""
    size = (TEXTURE_WINDOW, TEXTURE_WINDOW)
    mean = np.asarray(cv2.blur(grid_luma, size, borderType=cv2.BORDER_REFLECT), np.float32)
    mean_sq = np.asarray(
        cv2.blur(grid_luma * grid_luma, size, borderType=cv2.BORDER_REFLECT), np.float32
    )
    sigma = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    amp = np.clip(FLOOR + GAIN * sigma, FLOOR, CEILING)
    # Near black and white the added signal would be clipped away; there is no point
    # paying visibility for it, and clipping would bias the mean brightness.
    headroom = np.minimum(grid_luma, 255.0 - grid_luma)
    amp = np.minimum(amp, np.maximum(headroom, 0.0) * 0.5 + 0.25)
    return np.asarray(amp, dtype=np.float32)


def grid_luma(luma: npt.NDArray[np.uint8] | F32, grid: Grid) -> F32:
    """Luminance averaged down to the grid (8-bit input resizes much faster).

    A whole-number area reduction first (OpenCV has a fast path for it), the fractional
    rest after: the same average, at a third of the cost on a 12 MP photo.
    """
    factor = int(min(grid.sample_x, grid.sample_y))
    if factor >= 2:
        h, w = luma.shape[:2]
        luma = cv2.resize(luma, (w // factor, h // factor), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    small = cv2.resize(luma, (grid.grid_width, grid.grid_height), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def mark_difference(grid_y: F32, pattern: F32) -> F32:
    """The luminance change at grid resolution: amplitude times pattern, RMS-capped."""
    delta = amplitude(grid_y) * pattern
    rms = float(np.sqrt(np.mean(delta * delta)))
    if rms > MAX_RMS:
        delta *= MAX_RMS / rms
    return delta.astype(np.float32)


# The difference travels as 8-bit fixed point, FIXED steps per grey level around an offset of
# 128: scaling an 8-bit three-channel image up and adding it saturating is five times faster
# than doing the same in floating point, and 1/16 of a grey level is far below what the
# final rounding to 8 bits keeps anyway. The range (+-8 grey levels) covers CEILING.
FIXED = 16


# Coded difference -> 128 + the whole grey levels it rounds to. The photo's pixels are whole
# numbers, so rounding (pixel + difference) is rounding the difference: once, here, and the
# same for R, G and B.
_ROUND_LUT = np.array(
    [128 + math.floor((c - 128) / FIXED + 0.5) for c in range(256)], dtype=np.uint8
)


def grid_luma_image(image: Image.Image, grid: Grid) -> F32:
    """Luminance averaged down to the grid, straight from a PIL RGB or L image.

    Pillow's integer reduce() takes the photo most of the way down in one cheap pass (no
    full-size copy into numpy), OpenCV's area resize does the rest. Averaging RGB first and
    taking luma after is the same as the other way round: BT.601 luma is linear.
    """
    factor = int(min(grid.sample_x, grid.sample_y))
    small = image.reduce(factor) if factor >= 2 else image
    array = np.asarray(small, dtype=np.uint8)
    if array.ndim == 3:
        array = np.asarray(cv2.cvtColor(array, cv2.COLOR_RGB2GRAY), np.uint8)
    return grid_luma(array, grid)


def difference_step(delta: F32, size: tuple[int, int]) -> U8:
    """The full-size change as an 8-bit image: 128 + the whole grey levels to add.

    The grid difference is scaled up in 1/16 grey-level fixed point and rounded once; the
    photo's pixels are whole numbers, so rounding (pixel + change) is rounding the change.
    """
    coded = np.clip(np.rint(delta * FIXED + 128.0), 0, 255).astype(np.uint8)
    full = cv2.resize(coded, size, interpolation=cv2.INTER_LINEAR)
    return np.asarray(cv2.LUT(full, _ROUND_LUT), np.uint8)


def apply_difference_image(image: Image.Image, delta: F32) -> Image.Image:
    """Add the change to an RGB image (same amount to R, G and B) or to a luma plane.

    Saturating, in Pillow's own 8-bit loops: the photo never leaves Pillow's memory.
    """
    step = Image.fromarray(difference_step(delta, image.size), "L")
    if image.mode == "RGB":
        step = Image.merge("RGB", (step, step, step))
    return ImageChops.add(image, step, 1.0, -128)


def apply_difference(rgb: U8, delta: F32, *, in_place: bool = False) -> U8:
    """Add the (grid-resolution) luminance change to all three channels of an array.

    Adding the same amount to R, G and B changes luma by exactly that amount and leaves both
    chroma differences untouched, so 4:2:0 chroma subsampling cannot hurt the mark. Works
    for RGB and BGR alike.
    """
    height, width = rgb.shape[:2]
    step = difference_step(delta, (width, height))
    step3 = cv2.cvtColor(step, cv2.COLOR_GRAY2RGB)
    del step
    # Integer weights and offset: exactly pixel + step - 128, saturated. In place when the
    # caller owns the array: a 12 MP photo is 36 MB a copy.
    if in_place:
        cv2.addWeighted(rgb, 1.0, step3, 1.0, -128.0, dst=rgb)
        return rgb
    return np.asarray(cv2.addWeighted(rgb, 1.0, step3, 1.0, -128.0), dtype=np.uint8)
