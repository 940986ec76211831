"""Errors raised by the watermark library; all are ValueErrors so callers can map them to 4xx."""

from __future__ import annotations


class WatermarkError(ValueError):
    """Base class for every error this package raises on bad input."""


class UnsupportedImage(WatermarkError):
    """The image cannot carry or be searched for a mark (size, mode, corrupt data)."""


class InvalidKey(WatermarkError):
    """The key is too short or otherwise unusable."""


class InvalidPayload(WatermarkError):
    """The payload is not an integer in [0, 2**payload_bits)."""
