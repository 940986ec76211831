"""Smaller copies of a decoded photo and a JPEG encoder that writes pixels only."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from PIL import Image

THUMBNAIL_LONG_SIDE: Final = 400
PREVIEW_LONG_SIDE: Final = 1600
DEFAULT_JPEG_QUALITY: Final = 92

_JPEG_MODES: Final = frozenset({"RGB", "L"})


def _fitted_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    width, height = size
    if width >= height:
        return long_side, max(1, round(height * long_side / width))
    return max(1, round(width * long_side / height)), long_side


def resize_long_side(image: Image.Image, long_side: int) -> Image.Image:
    """A copy whose longer side is at most ``long_side`` pixels; never enlarges."""
    if long_side < 1:
        msg = f"long_side must be positive, got {long_side}"
        raise ValueError(msg)
    if max(image.size) <= long_side:
        resized = image.copy()
    else:
        # reducing_gap lets Pillow shrink by whole factors first (fast, box filter) and
        # finish with Lanczos; the result is indistinguishable from a full Lanczos pass.
        resized = image.resize(
            _fitted_size(image.size, long_side),
            Image.Resampling.LANCZOS,
            reducing_gap=3.0,
        )
    resized.info = {}
    return resized


def make_thumbnail(image: Image.Image) -> Image.Image:
    """The gallery thumbnail: 400 px on the long side at most."""
    return resize_long_side(image, THUMBNAIL_LONG_SIDE)


def make_preview(image: Image.Image) -> Image.Image:
    """The preview shown before purchase: 1600 px on the long side at most."""
    return resize_long_side(image, PREVIEW_LONG_SIDE)


@dataclass(frozen=True, slots=True)
class Derivatives:
    """The two smaller copies stored next to every original."""

    thumbnail: Image.Image
    preview: Image.Image


def derivatives(image: Image.Image) -> Derivatives:
    """Thumbnail and preview of a decoded photo (the thumbnail is made from the preview)."""
    preview = make_preview(image)
    # Shrinking the preview instead of the original is much cheaper and, at 4x reduction
    # with Lanczos, gives the same thumbnail to the eye.
    return Derivatives(thumbnail=make_thumbnail(preview), preview=preview)


def _jpeg_ready(image: Image.Image) -> Image.Image:
    if image.mode in _JPEG_MODES:
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def encode_jpeg(
    image: Image.Image, quality: int = DEFAULT_JPEG_QUALITY, *, progressive: bool = False
) -> bytes:
    """JPEG bytes holding the pixels and nothing else: no EXIF, XMP, IPTC, ICC or comment.

    ``L`` images stay grayscale JPEGs; other modes without JPEG support are flattened to
    RGB (transparency on white). Without an ICC profile the file is read as sRGB, which is
    what :func:`app.imaging.open_upload` produces.
    """
    if not 1 <= quality <= 100:
        msg = f"JPEG quality must be between 1 and 100, got {quality}"
        raise ValueError(msg)
    ready = _jpeg_ready(image)
    if ready.info:
        # Pillow's JPEG writer falls back on image.info for some fields (the comment);
        # writing from a copy without info makes "pixels only" hold whatever was passed in.
        ready = ready.copy()
        ready.info = {}
    out = io.BytesIO()
    ready.save(
        out,
        "JPEG",
        quality=quality,
        optimize=True,
        progressive=progressive,
        subsampling="4:2:0",
        exif=b"",
        comment=b"",
    )
    return out.getvalue()
