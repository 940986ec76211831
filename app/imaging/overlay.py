"""A visible, tiled mark across a preview: who it was shown to, in words anyone can read.

Light text with a dark edge, at low opacity, in slanted staggered lines: it survives a
screenshot and a crop, stays readable on sky and on dark clothes, and leaves the picture
judgeable.  The text names the school and a short viewer code; a Japanese school name
needs a CJK font (IPA Gothic or Noto Sans CJK from the system), and without one the ASCII
fallback is drawn.

The pattern repeats on a rectangular period, so one small cell per text and size is drawn
and kept (well under a megabyte), and a preview of any size is covered by repeating it in
numpy and blending with OpenCV: a viewer's first preview does not pay for drawing a
full-size layer, and a worker serving many viewers does not keep one full-size layer per
viewer.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

#: System fonts that draw Japanese, in order of preference (Debian package paths).
CJK_FONTS: Final = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
#: Opacity of the text and of its edge (0-255): present, not in the way.
TEXT_ALPHA: Final = 88
EDGE_ALPHA: Final = 56
ANGLE: Final = 30

U8 = npt.NDArray[np.uint8]


@functools.cache
def cjk_font_path() -> str | None:
    """The first system font that can draw Japanese, if any."""
    return next((path for path in CJK_FONTS if Path(path).is_file()), None)


def _font(size: int, *, cjk: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    if cjk and path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _drawable(text: str) -> bool:
    return text.isascii() or cjk_font_path() is not None


def text_size(width: int, height: int) -> int:
    """The overlay's font size for an image: about a 22nd of its short side."""
    return max(12, round(min(width, height) / 22))


@dataclass(frozen=True)
class Cell:
    """One period of the pattern, ready to blend:
    ``out = pixel - pixel * alpha / 255 + paint``."""

    alpha: U8  # (h, w, 3): the opacity, the same in every channel
    paint: U8  # (h, w, 3): colour * alpha / 255


@functools.lru_cache(maxsize=256)
def overlay_cell(shown: str, size: int) -> Cell:
    """The repeating cell of the pattern for ``shown`` at font ``size`` (a few hundred
    pixels a side: 256 of them are a few tens of megabytes at most)."""
    font = _font(size, cjk=not shown.isascii())
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), shown, font=font, stroke_width=2)
    text_w, text_h = round(right - left), round(bottom - top)
    tile = Image.new("LA", (text_w + 8, text_h + 8), (0, 0))
    ImageDraw.Draw(tile).text(
        (4 - round(left), 4 - round(top)),
        shown,
        font=font,
        fill=(255, TEXT_ALPHA),
        stroke_width=2,
        stroke_fill=(0, EDGE_ALPHA),
    )
    tile = tile.rotate(ANGLE, resample=Image.Resampling.BICUBIC, expand=True)
    # One copy per cell of a rectangular grid whose cell is (D cos a, D sin a): the copy
    # up and to the right sits on the same line of text, D further along (the text's
    # length and a gap), and the next lines are 0.43 D away, staggered, never in stripes.
    angle = math.radians(ANGLE)
    reach = max(text_w + 2 * size, 6 * text_h)
    period_w = max(1, round(reach * math.cos(angle)))
    period_h = max(1, round(reach * math.sin(angle)))
    # Draw enough periods around the middle one to cover a tile's reach, and keep the
    # middle: copies that cross the cell's edge come back in from the other side.
    around_x = tile.width // period_w + 1
    around_y = tile.height // period_h + 1
    canvas = Image.new("LA", ((2 * around_x + 1) * period_w, (2 * around_y + 1) * period_h))
    for row in range(2 * around_y + 2):
        for column in range(2 * around_x + 2):
            x = column * period_w - tile.width // 2
            y = row * period_h - tile.height // 2
            _paste(canvas, tile, x, y)
    middle = canvas.crop(
        (
            around_x * period_w,
            around_y * period_h,
            (around_x + 1) * period_w,
            (around_y + 1) * period_h,
        )
    )
    pixels = np.asarray(middle, np.uint16)
    lum, alpha = pixels[..., :1], pixels[..., 1:]
    paint = (lum * alpha + 127) // 255
    return Cell(
        alpha=np.repeat(alpha, 3, axis=2).astype(np.uint8),
        paint=np.repeat(paint, 3, axis=2).astype(np.uint8),
    )


def _paste(canvas: Image.Image, tile: Image.Image, x: int, y: int) -> None:
    """``alpha_composite`` with a destination partly outside the canvas."""
    left, top = max(0, -x), max(0, -y)
    if left >= tile.width or top >= tile.height:
        return
    canvas.alpha_composite(tile.crop((left, top, tile.width, tile.height)), (x + left, y + top))


def apply_overlay(pixels: U8, text: str, *, fallback: str) -> U8:
    """``pixels`` (h, w, 3 uint8, any channel order: the text is grey) with ``text`` tiled
    across it, as a new array; ``fallback`` (ASCII) is drawn when no installed font can
    draw ``text``."""
    shown = text if _drawable(text) else fallback
    height, width = pixels.shape[:2]
    cell = overlay_cell(shown, text_size(width, height))
    cell_h, cell_w = cell.alpha.shape[:2]
    # The pattern is anchored at the image's centre, so a crop of the middle keeps it whole.
    off_y = (-(height // 2)) % cell_h
    off_x = (-(width // 2)) % cell_w
    reps = (-(-(height + off_y) // cell_h), -(-(width + off_x) // cell_w), 1)
    rows, columns = slice(off_y, off_y + height), slice(off_x, off_x + width)
    alpha = np.tile(cell.alpha, reps)[rows, columns]
    paint = np.tile(cell.paint, reps)[rows, columns]
    # OpenCV's saturating uint8 arithmetic: a quarter of numpy's time in uint16.
    dimmed = cv2.subtract(pixels, cv2.multiply(pixels, alpha, scale=1 / 255))
    return np.asarray(cv2.add(dimmed, paint), np.uint8)


def tiled_text(image: Image.Image, text: str, *, fallback: str) -> Image.Image:
    """``image`` (RGB) with ``text`` tiled across it (see ``apply_overlay``)."""
    shown = apply_overlay(np.asarray(image.convert("RGB")), text, fallback=fallback)
    return Image.fromarray(shown, "RGB")
