"""Where the studio keeps photo blobs, and the limits uploads are held to.

No Flask here: the application, the worker and the benchmark all build the same
:class:`~app.storage.EncryptedBlobs` from settings and the key-encryption key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from app.config import Settings
from app.imaging import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from app.storage import ORIGINAL, PREVIEW, THUMBNAIL, EncryptedBlobs, KeyRing, LocalBlobStore

#: The clean re-encoded JPEG that downloads will watermark; the upload itself stays ORIGINAL.
MASTER: Final = "master"
#: Every blob a photo can have, in the order they are written.
PHOTO_BLOB_KINDS: Final = (ORIGINAL, MASTER, PREVIEW, THUMBNAIL)
#: The blobs a photo must have before it may be marked ready.
DERIVATIVE_KINDS: Final = (MASTER, PREVIEW, THUMBNAIL)


@dataclass(frozen=True)
class UploadLimits:
    """The most one uploaded file may weigh and hold."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


def upload_limits(settings: Settings) -> UploadLimits:
    """Per-file limits: the imaging defaults, never above the request body limit."""
    return UploadLimits(
        max_bytes=min(DEFAULT_MAX_BYTES, settings.max_upload_bytes),
        max_pixels=DEFAULT_MAX_PIXELS,
    )


def make_blobs(settings: Settings, kek: bytes) -> EncryptedBlobs:
    """The encrypted photo store of ``settings`` (files under ``settings.blob_dir``)."""
    return EncryptedBlobs(LocalBlobStore(settings.blob_dir), KeyRing.from_secrets(kek))
