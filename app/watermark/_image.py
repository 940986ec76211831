"""Turning whatever Pillow hands us into 8-bit RGB, or a clear error."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from ._errors import UnsupportedImage

U8Image = npt.NDArray[np.uint8]
F32Image = npt.NDArray[np.float32]

# Below this the tile does not fit even once and the mark could not be read back.
MIN_SIDE = 128
# About 100 MP: a medium-format camera. Beyond that the arrays alone would need gigabytes.
MAX_PIXELS = 100_000_000

_DIRECT = {"RGB", "L", "P", "1", "CMYK", "YCbCr"}
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}
_WIDE = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def check_size(width: int, height: int, minimum: int = MIN_SIDE) -> None:
    if min(width, height) < minimum:
        raise UnsupportedImage(
            f"image is {width}x{height} pixels; a watermark needs at least {minimum}x{minimum}"
        )
    if width * height > MAX_PIXELS:
        raise UnsupportedImage(
            f"image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} MP"
        )


def _wide_to_l(image: Image.Image) -> Image.Image:
    # Pillow's convert() clips 16-bit and float samples at 255 instead of scaling them.
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F":
        scale = 255.0 if top <= 1.0 else 255.0 / max(top, 1e-12)
    else:
        scale = 1.0 if top <= 255 else 255.0 / 65535.0
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image, minimum: int = MIN_SIDE) -> U8Image:
    """Decode (if still lazy) and return an (h, w, 3) uint8 array; raises UnsupportedImage."""
    rgb = to_rgb_image(image, minimum)
    try:
        array = np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:  # pragma: no cover - decoded above
        raise UnsupportedImage(f"image could not be decoded: {error}") from error
    if array.ndim != 3 or array.shape[2] != 3:  # pragma: no cover - defensive
        raise UnsupportedImage("image did not decode to three channels")
    return array


def to_rgb_image(image: Image.Image, minimum: int = MIN_SIDE) -> Image.Image:
    """Decode (if still lazy) and return an 8-bit RGB PIL image; raises UnsupportedImage.

    Stays a PIL image: a 12 MP photo copied into numpy and back costs as much as the
    whole mark does.
    """
    if not isinstance(image, Image.Image):
        raise UnsupportedImage(f"expected a PIL image, got {type(image).__name__}")
    check_size(*image.size, minimum=minimum)
    try:
        image.load()
        mode = image.mode
        if mode in _WIDE:
            image = _wide_to_l(image)
        elif mode in _ALPHA:
            # Transparent areas become white, as they look in a browser on a light page;
            # the alpha channel itself is not part of a sold photo.
            rgba = image.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(canvas, rgba)
        elif mode not in _DIRECT:
            raise UnsupportedImage(f"unsupported image mode {mode!r}")
        rgb = image if mode == "RGB" else image.convert("RGB")
        rgb.load()
    except UnsupportedImage:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError at load time.
        raise UnsupportedImage(f"image could not be decoded: {error}") from error
    return rgb


def luminance(rgb: U8Image) -> F32Image:
    """BT.601 luma as float32, the channel the mark lives in."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def luminance_of(image: Image.Image, minimum: int = MIN_SIDE) -> F32Image:
    """BT.601 luma of any image as float32, straight from Pillow: a 12 MP RGB array copied
    out of Pillow costs five times what its one-channel luma does, and only luma is read."""
    rgb = to_rgb_image(image, minimum)
    return np.asarray(rgb.convert("L"), dtype=np.float32)
