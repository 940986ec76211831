"""Open an uploaded photo safely: limits first, then decode, orient, convert to sRGB, strip.

Everything that leaves :func:`open_upload` is a fresh 8-bit RGB image built from pixels
only, so no metadata block of the upload (EXIF, GPS, XMP, IPTC, maker notes, thumbnails,
comments, trailing data, second frames) can survive into a stored or served file.

Grayscale photos come back as RGB too: every consumer (resizing, watermarking, hashing)
then handles one mode, and a neutral RGB JPEG costs little more than a grayscale one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from app.imaging.errors import RejectedImage
from app.imaging.formats import (
    ACCEPTED_FOR_HUMANS,
    AVIF,
    HEIF,
    JPEG,
    PNG,
    WEBP,
    describe_content,
    sniff_format,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 50 * 1000 * 1000
DEFAULT_MAX_PIXELS: Final = 60 * 1000 * 1000

# Registering is idempotent; without it Pillow cannot open HEIC at all. Options are left
# alone because they are process-wide and other code may rely on them.
pillow_heif.register_heif_opener()

# Which Pillow plugins may look at bytes that sniffed as a given format: a JPEG never
# reaches the TIFF or PSD parsers, whatever else it contains.
_PILLOW_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    JPEG: ("JPEG",),  # an MPO or Ultra HDR file opens through the JPEG factory as "MPO"
    PNG: ("PNG",),
    WEBP: ("WEBP",),
    HEIF: ("HEIF",),
    AVIF: ("AVIF",),
}
_EXPECTED_DECODED: Final[dict[str, frozenset[str]]] = {
    JPEG: frozenset({"JPEG", "MPO"}),
    PNG: frozenset({"PNG"}),
    WEBP: frozenset({"WEBP"}),
    HEIF: frozenset({"HEIF"}),
    AVIF: frozenset({"AVIF"}),
}
_FORMAT_FOR_HUMANS: Final[dict[str, str]] = {
    JPEG: "JPEG",
    PNG: "PNG",
    WEBP: "WebP",
    HEIF: "HEIC",
    AVIF: "AVIF",
}

_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSE_FOR_ORIENTATION: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_WHITE: Final = (255, 255, 255)
_SIXTEEN_BIT_GRAY: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ICC_SPACE_FOR_MODE: Final[dict[str, str]] = {"RGB": "RGB", "CMYK": "CMYK", "L": "GRAY"}

# Pillow reports a bomb only as prose; the pixel count in it makes a better message.
_PIXELS_IN_MESSAGE: Final = re.compile(r"\((\d+) pixels\)")

# Pillow and the codecs raise many unrelated types for hostile bytes; all of them mean
# "we cannot read this file", never a server error.
_DECODER_ERRORS: Final = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    AttributeError,
    AssertionError,
)


def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _too_many_pixels(pixels: int | None, max_pixels: int) -> RejectedImage:
    limit = _megapixels(max_pixels)
    if pixels is None:
        text = f"The photo has too many pixels; the limit is {limit} megapixels."
    else:
        found = _megapixels(pixels)
        if found == limit:
            # "60 megapixels; the limit is 60" would read as a contradiction.
            text = f"The photo is too large: {pixels:,} pixels; the limit is {max_pixels:,}."
        else:
            text = f"The photo is too large: {found} megapixels; the limit is {limit}."
    return RejectedImage("too_many_pixels", text, max_pixels=max_pixels)


def _too_large(size: int, max_bytes: int) -> RejectedImage:
    found, limit = f"{size / 1e6:.1f}", f"{max_bytes / 1e6:.1f}"
    if found == limit:
        text = f"The file is too large: {size:,} bytes; the limit is {max_bytes:,}."
    else:
        text = f"The file is too large: {found} MB; the limit is {limit.removesuffix('.0')} MB."
    return RejectedImage("too_large", text, max_bytes=max_bytes)


def _not_accepted(data: bytes) -> RejectedImage:
    found = describe_content(data)
    detail = f" (found {found})" if found else ""
    return RejectedImage(
        "format",
        f"This file is not a photo we accept{detail}. Upload {ACCEPTED_FOR_HUMANS}.",
        found=found,
    )


def _truncated() -> RejectedImage:
    return RejectedImage(
        "truncated", "The photo is cut off (the file is incomplete). Please upload it again."
    )


def _corrupt(fmt: str) -> RejectedImage:
    name = _FORMAT_FOR_HUMANS.get(fmt, fmt)
    return RejectedImage(
        "corrupt",
        f"The photo could not be read: the file looks like {name} but is damaged. "
        "Please export it again and upload the new file.",
    )


def _looks_truncated(exc: BaseException) -> bool:
    if isinstance(exc, EOFError):
        return True
    text = str(exc).lower()
    return any(
        hint in text
        for hint in ("truncated", "premature end", "end of file", "unexpected end", "incomplete")
    )


def _check_environment() -> None:
    # A process-wide switch elsewhere in the code base would make Pillow pad cut-off
    # photos with grey instead of failing; uploads must never be accepted that way.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        msg = (
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; uploads cannot be checked for "
            "truncation. Do not enable it in a process that accepts uploads."
        )
        raise RuntimeError(msg)


def _orientation(im: Image.Image, fmt: str) -> int:
    # libheif already applied the HEIF irot/imir boxes, which the HEIF standard makes
    # authoritative over the EXIF tag (iPhones write both); applying the tag as well
    # would turn the picture twice.
    if fmt == HEIF:
        return 1
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except _DECODER_ERRORS:
        # Corrupt EXIF cannot tell us anything; the pixels as stored are the best guess.
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return 1


def _sixteen_bit_to_l(im: Image.Image) -> Image.Image:
    # Pillow's own convert("L") clips 16-bit values at 255 instead of scaling them, which
    # would turn nearly every 16-bit photo white.
    values = np.asarray(im).astype(np.uint32)
    scaled = (np.clip(values, 0, 65535) + 128) // 257
    return Image.fromarray(scaled.astype(np.uint8))


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite a picture with transparency onto white, keeping L or RGB colour."""
    if im.mode in ("LA", "La"):
        rgba = im.convert("LA") if im.mode == "La" else im
        flat = Image.new("L", im.size, 255)
        flat.paste(rgba.getchannel("L"), mask=rgba.getchannel("A"))
        return flat
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    flat = Image.new("RGB", im.size, _WHITE)
    flat.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return flat


def _base_colour(im: Image.Image) -> Image.Image:
    """Reduce any decoded mode to 8-bit L, RGB or CMYK without transparency."""
    mode = im.mode
    if mode in ("RGB", "L", "CMYK"):
        base = im
    elif mode in _SIXTEEN_BIT_GRAY:
        base = _sixteen_bit_to_l(im)
    elif mode == "1":
        base = im.convert("L")
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in im.info):
        base = _flatten_alpha(im)
    else:
        base = im.convert("RGB")
    return base


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """8-bit sRGB pixels, using the embedded ICC profile when it fits the pixels."""
    base = _base_colour(im)
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = source.profile.xcolor_space.strip()
            if space == _ICC_SPACE_FOR_MODE.get(base.mode):
                transform = ImageCms.buildTransform(
                    source,
                    _srgb_profile(),
                    base.mode,
                    "RGB",
                    renderingIntent=ImageCms.Intent.PERCEPTUAL,
                )
                return ImageCms.applyTransform(base, transform) or base
            logger.info("ICC profile for %s does not match %s pixels; ignored", space, base.mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError):
            # A broken profile should not cost the photographer the photo: the pixels are
            # nearly always close to sRGB already.
            logger.info("unusable ICC profile ignored", exc_info=True)
    return base if base.mode == "RGB" else base.convert("RGB")


def _pixel_limit(max_pixels: int) -> int:
    # Pillow only warns between its MAX_IMAGE_PIXELS and twice that. Refusing everything
    # above it here makes that warning final without relying on the warnings filter.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return max_pixels if pillow_limit is None else min(max_pixels, int(pillow_limit))


_WARNINGS_LOCK: Final = threading.Lock()


@contextlib.contextmanager
def _strict_pillow_warnings() -> Iterator[None]:
    # catch_warnings swaps the process-wide filter list; the lock keeps two uploads decoded
    # at once in one process from restoring each other's filters.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        # Odd EXIF and chunk layouts produce UserWarnings; that metadata is dropped anyway,
        # and a strict warnings setup elsewhere must not turn them into rejections.
        warnings.simplefilter("ignore", UserWarning)
        yield


def _decode(data: bytes, fmt: str, max_pixels: int) -> tuple[Image.Image, int]:
    """Decode the primary picture; returns sRGB pixels and the EXIF orientation to apply."""
    limit = _pixel_limit(max_pixels)
    with _strict_pillow_warnings():
        im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[fmt])
        try:
            if im.format not in _EXPECTED_DECODED[fmt]:
                # Cannot happen while `formats` restricts the plugins; kept as a tripwire
                # should a plugin ever answer for bytes it was not asked about.
                raise _corrupt(fmt)
            width, height = im.size
            if width <= 0 or height <= 0:
                raise _corrupt(fmt)
            # The header is all Pillow has read so far; refuse before any pixel is decoded.
            if width * height > limit:
                raise _too_many_pixels(width * height, limit)
            # Opening leaves every plugin on its primary picture (frame 0, or the HEIF
            # primary item), so the MPO second eye, an Ultra HDR gain map or animation
            # frames are never decoded.
            im.load()
            if im.size[0] * im.size[1] > limit:
                raise _too_many_pixels(im.size[0] * im.size[1], limit)
            orientation = _orientation(im, fmt)
            icc = im.info.get("icc_profile")
        except BaseException:
            im.close()
            raise
    try:
        srgb = _to_srgb(im, icc if isinstance(icc, bytes) else None)
        # The caller gets a detached image: the file object is closed below.
        if srgb is im:
            srgb = im.copy()
    finally:
        im.close()
    return srgb, orientation


@dataclass(frozen=True)
class Probe:
    """What the header of an acceptable upload says (no pixel has been decoded)."""

    format: str
    width: int
    height: int


def probe(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Probe:
    """The cheap checks, safe for any input in a request: size, format by content, and the
    pixel count from the header; :class:`RejectedImage` if the file is unfit.

    :func:`open_upload` makes the same checks first, with the same words, before decoding.
    """
    if not data:
        raise RejectedImage("empty", "The file is empty. Please choose the photo again.")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    fmt = sniff_format(data)
    if fmt is None:
        raise _not_accepted(data)
    limit = _pixel_limit(max_pixels)
    try:
        with (
            _strict_pillow_warnings(),
            Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[fmt]) as im,
        ):
            width, height = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _PIXELS_IN_MESSAGE.search(str(exc))
        raise _too_many_pixels(int(found[1]) if found else None, limit) from None
    except _DECODER_ERRORS as exc:
        logger.info("unreadable %s header: %s: %s", fmt, type(exc).__name__, exc)
        if _looks_truncated(exc):
            raise _truncated() from None
        raise _corrupt(fmt) from None
    if width <= 0 or height <= 0:
        raise _corrupt(fmt)
    if width * height > limit:
        raise _too_many_pixels(width * height, limit)
    return Probe(format=fmt, width=width, height=height)


def open_upload(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode an upload into an upright 8-bit sRGB ``RGB`` image carrying no metadata.

    Raises :class:`RejectedImage` for anything that is not an acceptable photo. The size
    limit is checked first, the format by content next, then the pixel count from the
    header before any decoding.

    Safe to call from several threads; decoding itself is serialised within a process
    because Python 3.11's warnings filters are process-wide.
    """
    _check_environment()
    fmt = probe(data, max_bytes=max_bytes, max_pixels=max_pixels).format
    try:
        srgb, orientation = _decode(bytes(data), fmt, max_pixels)
    except RejectedImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = _PIXELS_IN_MESSAGE.search(str(exc))
        pixels = int(found[1]) if found else None
        raise _too_many_pixels(pixels, _pixel_limit(max_pixels)) from None
    except MemoryError:
        raise _too_many_pixels(None, _pixel_limit(max_pixels)) from None
    except UnidentifiedImageError:
        raise _corrupt(fmt) from None
    except _DECODER_ERRORS as exc:
        if _looks_truncated(exc):
            raise _truncated() from None
        logger.info("undecodable %s upload: %s: %s", fmt, type(exc).__name__, exc)
        raise _corrupt(fmt) from None

    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    upright = srgb.transpose(transpose) if transpose is not None else srgb
    # Every operation above returned a new image, but the info dict is copied along; the
    # result must not carry dpi, profiles or anything else from the upload.
    upright.info = {}
    return upright
