"""Recognise a file by its first bytes, never by its name or declared content type."""

from __future__ import annotations

import struct
from typing import Final

from PIL import features

JPEG: Final = "JPEG"
PNG: Final = "PNG"
WEBP: Final = "WEBP"
HEIF: Final = "HEIF"
AVIF: Final = "AVIF"

# Checked once: Pillow's AVIF support depends on how the wheel was built, and a format the
# decoder cannot read must not be advertised to photographers.
AVIF_SUPPORTED: Final[bool] = bool(features.check("avif"))

ACCEPTED_FORMATS: Final[frozenset[str]] = frozenset(
    {JPEG, PNG, WEBP, HEIF, *([AVIF] if AVIF_SUPPORTED else [])}
)

ACCEPTED_FOR_HUMANS: Final[str] = (
    "JPEG, PNG, WebP, HEIC or AVIF" if AVIF_SUPPORTED else "JPEG, PNG, WebP or HEIC"
)

_HEVC_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
)
_AV1_BRANDS: Final = frozenset({b"avif", b"avis"})
# Structural brands say "this is a HEIF container" without naming the codec; the
# compatible-brands list then decides.
_GENERIC_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1", b"miaf"})
_VIDEO_BRANDS: Final = frozenset(
    {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"M4A ", b"3gp4", b"3gp5", b"avc1"}
)

# SVG and HTML name themselves within the first few kilobytes (after any XML prolog or
# comment); reading further would only slow down rejecting large non-image uploads.
_TEXT_SNIFF_BYTES: Final = 4096


def _ftyp_brands(data: bytes) -> tuple[bytes, list[bytes]] | None:
    """Major brand and compatible brands of an ISO-BMFF ``ftyp`` box at the start."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    (box_size,) = struct.unpack(">I", data[:4])
    # A ftyp box lists a handful of brands; cap the walk so a lying size costs nothing.
    end = min(box_size if box_size >= 16 else 16, len(data), 1024)
    compatible = [data[i : i + 4] for i in range(16, end - 3, 4)]
    return data[8:12], compatible


def _sniff_isobmff(data: bytes) -> str | None:
    brands = _ftyp_brands(data)
    if brands is None:
        return None
    major, compatible = brands
    found: str | None = None
    if major in _AV1_BRANDS:
        found = AVIF
    elif major in _HEVC_BRANDS:
        found = HEIF
    elif _AV1_BRANDS.intersection(compatible):
        found = AVIF
    elif major in _GENERIC_HEIF_BRANDS or _HEVC_BRANDS.intersection(compatible):
        # Anything else in a HEIF container goes to libheif, which knows the codecs.
        found = HEIF
    return found


def sniff_format(data: bytes) -> str | None:
    """The accepted photo format the bytes start with (``"JPEG"``, ``"PNG"``, ...), else None.

    Only formats in :data:`ACCEPTED_FORMATS` are returned; :func:`describe_content` names
    the rest for error messages.
    """
    head = bytes(data[:1024])
    found: str | None = None
    if head.startswith(b"\xff\xd8\xff"):
        found = JPEG
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = PNG
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found = WEBP
    else:
        found = _sniff_isobmff(head)
    return found if found in ACCEPTED_FORMATS else None


_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF or camera RAW"),
    (b"MM\x00*", "TIFF or camera RAW"),
    (b"%PDF-", "PDF"),
    (b"%!PS", "PostScript"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x01\x00", "icon (ICO)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "program"),
)
# Two-byte signatures also start ordinary words, so they are tried after text.
_WEAK_SIGNATURES: Final[tuple[tuple[bytes, str], ...]] = ((b"MZ", "program"), (b"BM", "BMP"))


def _describe_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary still leaves text; anything
        # else that fails to decode is binary.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    text = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in text:
        return "SVG"
    if any(tag in text for tag in ("<!doctype html", "<html", "<script", "<body", "<head")):
        return "HTML"
    if text.startswith("<?xml"):
        return "XML"
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "text"
    return None


def _describe_isobmff(head: bytes) -> str | None:
    brands = _ftyp_brands(head)
    if brands is None:
        return None
    major, compatible = brands
    if major in _AV1_BRANDS or _AV1_BRANDS.intersection(compatible):
        return "AVIF"
    if major == b"crx ":
        return "camera RAW (CR3)"
    return "video" if major in _VIDEO_BRANDS else "ISO media"


def _describe_signature(head: bytes, signatures: tuple[tuple[bytes, str], ...]) -> str | None:
    for signature, name in signatures:
        if head.startswith(signature):
            return name
    return None


def describe_content(data: bytes) -> str | None:
    """A short human name for what the bytes look like ("SVG", "GIF", ...), or None."""
    head = bytes(data[:_TEXT_SNIFF_BYTES])
    if head[:4] == b"RIFF" and head[8:12] != b"WEBP":
        return "video" if head[8:12] == b"AVI " else "RIFF media"
    return (
        sniff_format(head)
        or _describe_isobmff(head)
        or _describe_signature(head, _SIGNATURES)
        or _describe_text(head)
        or _describe_signature(head, _WEAK_SIGNATURES)
    )
