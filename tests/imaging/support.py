"""Builders for hand-made image files and checks on the bytes the imaging library writes."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image

# Metadata that must never reach a stored or served file. Short needles such as b"GPS"
# also occur by chance in compressed pixel data, so they are only looked for in the
# header segments; the long ones are looked for in the whole file.
HEADER_NEEDLES = (
    b"Exif",
    b"GPS",
    b"<x:xmpmeta",
    b"http://ns.adobe.com/xap",
    b"Photoshop 3.0",
    b"8BIM",
    b"MPF",
    b"ICC_PROFILE",
    b"hdrgm",
)
FILE_NEEDLES = (
    b"Exif\x00\x00",
    b"<x:xmpmeta",
    b"http://ns.adobe.com/xap",
    b"Photoshop 3.0",
    b"ICC_PROFILE",
    b"<html",
    b"<script",
    b"PK\x03\x04",
)
# JFIF and Pillow's view of it are the only things a clean JPEG may tell Pillow.
ALLOWED_JPEG_INFO = frozenset(
    {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"}
)

SOI = 0xD8
EOI = 0xD9
SOS = 0xDA
APP0 = 0xE0
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


def _walk_header(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments: list[tuple[int, bytes]] = []
    pos = 2
    while pos < len(data):
        assert data[pos] == 0xFF, f"expected a marker at {pos}"
        while data[pos] == 0xFF:
            pos += 1
        marker = data[pos]
        pos += 1
        if marker in STANDALONE_MARKERS:
            segments.append((marker, b""))
            continue
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        segments.append((marker, data[pos + 2 : pos + length]))
        pos += length
        if marker == SOS:
            return segments, pos
    raise AssertionError("no SOS segment")


def jpeg_header_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment between SOI and the first SOS, inclusive."""
    return _walk_header(data)[0]


def header_end(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data."""
    return _walk_header(data)[1]


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """Fail unless ``data`` is one plain JPEG picture without any metadata; return it."""
    segments = jpeg_header_segments(data)
    markers = [marker for marker, _ in segments]
    app_or_comment = [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE]
    assert app_or_comment == [], f"metadata segments {[hex(m) for m in app_or_comment]}"
    assert markers.count(APP0) <= 1
    for marker, payload in segments:
        if marker == APP0:
            assert payload.startswith(b"JFIF\x00"), "APP0 other than JFIF"
    header = data[: header_end(data)]
    for needle in HEADER_NEEDLES:
        assert needle not in header, f"{needle!r} in the JPEG header"
    for needle in FILE_NEEDLES:
        assert needle not in data, f"{needle!r} in the JPEG"
    # Entropy-coded data never holds FF D8, so a second SOI means a second picture.
    assert data.count(b"\xff\xd8") == 1, "a second embedded JPEG"
    assert data.endswith(b"\xff\xd9"), "data after the end of the picture"
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        assert getattr(im, "n_frames", 1) == 1
        assert set(im.info) <= ALLOWED_JPEG_INFO, sorted(im.info)
        exif = im.getexif()
        assert len(exif) == 0
        assert len(exif.get_ifd(0x8825)) == 0
        im.load()
        return im.copy()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bytes(
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    color_type: int = 2,
    idat: bytes | None = None,
    chunks_before_idat: tuple[bytes, ...] = (),
) -> bytes:
    """A PNG with the given header; ``idat`` is the compressed payload (empty if None)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + b"".join(chunks_before_idat)
        + png_chunk(b"IDAT", idat if idat is not None else zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def png_with_rows(width: int, height: int, rows: list[bytes], **header: Any) -> bytes:
    """A PNG whose raw scanlines are ``rows`` (filter byte 0 is added)."""
    raw = b"".join(b"\x00" + row for row in rows)
    return png_bytes(width, height, idat=zlib.compress(raw), **header)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)


def _gamma_curve(gamma: float) -> bytes:
    return b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"


def _profile(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, payload in tags:
        table += signature + struct.pack(">II", offset + len(body), len(payload))
        body += payload + b"\x00" * (-len(payload) % 4)
    size = 128 + len(table) + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00" * 4
        + b"\x02\x10\x00\x00"
        + b"mntr"
        + space
        + b"XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
    )
    header += b"\x00" * (128 - len(header))
    return header + table + body


def adobe_rgb_like_profile() -> bytes:
    """A matrix/TRC RGB profile with Adobe RGB (1998) primaries: wider gamut than sRGB."""
    curve = _gamma_curve(2.2)
    return _profile(
        b"RGB ",
        [
            (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", _xyz(0.60974, 0.31111, 0.01947)),
            (b"gXYZ", _xyz(0.20528, 0.62567, 0.06087)),
            (b"bXYZ", _xyz(0.14919, 0.06322, 0.74457)),
            (b"rTRC", curve),
            (b"gTRC", curve),
            (b"bTRC", curve),
        ],
    )


def gray_profile() -> bytes:
    """A gray (kTRC) profile: valid, but for one-channel pixels only."""
    return _profile(b"GRAY", [(b"wtpt", _xyz(0.9642, 1.0, 0.8249)), (b"kTRC", _gamma_curve(2.2))])


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def mean_abs_diff(left: Image.Image, right: Image.Image) -> float:
    """Mean absolute difference of two same-size images, per 8-bit channel value."""
    assert left.size == right.size, (left.size, right.size)
    a = np.asarray(left.convert("RGB"), dtype=np.int16)
    b = np.asarray(right.convert("RGB"), dtype=np.int16)
    return float(np.abs(a - b).mean())
