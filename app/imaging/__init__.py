"""Decode, validate, strip, resize and hash uploaded photos (Pillow only, no web code).

Typical upload path::

    probe(data)                            # cheap checks in the request: size, format, pixels
    image = open_upload(data)              # RejectedImage on anything unacceptable
    original = encode_jpeg(image)          # pixels only, no metadata
    copies = derivatives(image)            # thumbnail (400 px) and preview (1600 px)
    fingerprint = perceptual_hash(image)   # for finding the source of a leak later
"""

from __future__ import annotations

from app.imaging.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, Probe, open_upload, probe
from app.imaging.derivatives import (
    DEFAULT_JPEG_QUALITY,
    PREVIEW_LONG_SIDE,
    THUMBNAIL_LONG_SIDE,
    Derivatives,
    derivatives,
    encode_jpeg,
    make_preview,
    make_thumbnail,
    resize_long_side,
)
from app.imaging.errors import REJECTION_CODES, RejectedImage, RejectionCode
from app.imaging.formats import (
    ACCEPTED_FORMATS,
    AVIF_SUPPORTED,
    describe_content,
    sniff_format,
)
from app.imaging.hashing import PerceptualHash, perceptual_hash

__all__ = [
    "ACCEPTED_FORMATS",
    "AVIF_SUPPORTED",
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "PREVIEW_LONG_SIDE",
    "REJECTION_CODES",
    "THUMBNAIL_LONG_SIDE",
    "Derivatives",
    "PerceptualHash",
    "Probe",
    "RejectedImage",
    "RejectionCode",
    "derivatives",
    "describe_content",
    "encode_jpeg",
    "make_preview",
    "make_thumbnail",
    "open_upload",
    "perceptual_hash",
    "probe",
    "resize_long_side",
    "sniff_format",
]
