"""The most one uploaded image may weigh and hold (studio uploads and suspect images)."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.imaging import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class UploadLimits:
    """Per-file limits, checked in the request and again when the pixels are decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


def upload_limits(settings: Settings) -> UploadLimits:
    """The imaging defaults, never above the request body limit."""
    return UploadLimits(
        max_bytes=min(DEFAULT_MAX_BYTES, settings.max_upload_bytes),
        max_pixels=DEFAULT_MAX_PIXELS,
    )
