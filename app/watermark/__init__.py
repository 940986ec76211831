"""Invisible, keyed, robust watermarks that name the download a photo came from.

Pure library: numpy, scipy, OpenCV, Pillow and bchlib only. See docs/watermark.md.
"""

from __future__ import annotations

from ._codec import PAYLOAD_BITS
from ._core import Keyring, Watermarker
from ._errors import InvalidKey, InvalidPayload, UnsupportedImage, WatermarkError
from ._result import Extraction
from ._verify import Verification

__all__ = [
    "PAYLOAD_BITS",
    "Extraction",
    "InvalidKey",
    "InvalidPayload",
    "Keyring",
    "UnsupportedImage",
    "Verification",
    "WatermarkError",
    "Watermarker",
]
