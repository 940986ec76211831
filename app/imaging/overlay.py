"""A visible, tiled mark across a preview: who it was shown to, in words anyone can read.

Light text with a dark edge, at low opacity, on a diagonal grid: it survives a screenshot
and a crop, stays readable on sky and on dark clothes, and leaves the picture judgeable.
The text names the school and a short viewer code; a Japanese school name needs a CJK font
(IPA Gothic or Noto Sans CJK from the system), and without one the ASCII fallback is drawn.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Final

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


def tiled_text(image: Image.Image, text: str, *, fallback: str) -> Image.Image:
    """``image`` (RGB) with ``text`` tiled across it; ``fallback`` (ASCII) is drawn instead
    when no installed font can draw ``text``."""
    shown = text if _drawable(text) else fallback
    width, height = image.size
    layer = _layer(width, height, shown)
    marked = image.convert("RGBA")
    marked.alpha_composite(layer)
    result = marked.convert("RGB")
    result.info = {}
    return result


@functools.lru_cache(maxsize=64)
def _layer(width: int, height: int, shown: str) -> Image.Image:
    """The transparent overlay for one size and text (a viewer sees many photos of the same
    size, so it is drawn once for them)."""
    size = max(12, round(min(width, height) / 22))
    font = _font(size, cjk=not shown.isascii())
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), shown, font=font, stroke_width=2)
    text_w, text_h = round(right - left), round(bottom - top)
    tile = Image.new("RGBA", (text_w + 8, text_h + 8), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text(
        (4 - round(left), 4 - round(top)),
        shown,
        font=font,
        fill=(255, 255, 255, TEXT_ALPHA),
        stroke_width=2,
        stroke_fill=(0, 0, 0, EDGE_ALPHA),
    )
    tile = tile.rotate(ANGLE, resample=Image.Resampling.BICUBIC, expand=True)
    # A lattice along the text's own direction: one step along the line of text, one step
    # across it with half a step's shift, so the copies never stack into stripes.
    angle = math.radians(ANGLE)
    along = (text_w + 2 * size) * math.cos(angle), -(text_w + 2 * size) * math.sin(angle)
    gap = text_h * 4
    across = (gap * math.sin(angle) + along[0] / 2, gap * math.cos(angle) + along[1] / 2)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    reach = int((width + height) / min(abs(along[0]) or 1, gap)) + 2
    half_w, half_h = tile.width // 2, tile.height // 2
    for i in range(-reach, reach + 1):
        for j in range(-reach, reach + 1):
            x = round(width / 2 + i * along[0] + j * across[0]) - half_w
            y = round(height / 2 + i * along[1] + j * across[1]) - half_h
            if -tile.width < x < width and -tile.height < y < height:
                layer.paste(tile, (x, y), tile)
    return layer
