"""Where photo blobs live, which kinds a photo has, and reading them back.

No Flask here: the application, the worker, the command line and the benchmarks all build
the same :class:`~app.storage.EncryptedBlobs` from :class:`~app.config.Settings` — files
under ``var/blobs`` in the embedded default, an S3-compatible bucket when
``PHOTOGATE_BLOB_STORE=s3``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from app.config import Secrets, Settings
from app.errors import AppError, NotFound, Unavailable
from app.i18n import gettext as _
from app.photos.models import Photo, PhotoStatus
from app.storage import (
    BlobIntegrityError,
    BlobNotFoundError,
    BlobStore,
    EncryptedBlobs,
    KeyRing,
    LocalBlobStore,
    S3BlobStore,
    StorageError,
    UnknownKeyError,
)

logger = logging.getLogger(__name__)

#: The upload exactly as received (encrypted): kept so processing can always start over.
ORIGINAL: Final = "original"
#: The clean re-encoded JPEG (no metadata, upright, sRGB) that downloads watermark.
MASTER: Final = "master"
#: What families look at (at most PREVIEW_LONG_SIDE pixels), and the grid's thumbnails.
PREVIEW: Final = "preview"
THUMBNAIL: Final = "thumbnail"
#: Every blob a photo can have, in the order they are written.
PHOTO_BLOB_KINDS: Final = (ORIGINAL, MASTER, PREVIEW, THUMBNAIL)
#: The blobs a photo must have before it may be marked ready.
DERIVATIVE_KINDS: Final = (MASTER, PREVIEW, THUMBNAIL)


class DamagedPhoto(AppError):
    """A stored blob is missing or failed authentication; nothing of it is served."""

    status_code = 500


def make_blob_store(settings: Settings, *, client: Any = None) -> BlobStore:
    """The configured blob store; ``client`` replaces the boto3 client (tests)."""
    if settings.blob_store == "s3":
        options: dict[str, str] = {}
        if settings.s3_endpoint_url:
            options["endpoint_url"] = settings.s3_endpoint_url
        if settings.s3_region:
            options["region_name"] = settings.s3_region
        # Credentials come from boto3's own chain (AWS_* variables, a shared credentials
        # file, an instance role), never from PhotoGate's settings.
        return S3BlobStore(settings.s3_bucket, prefix=settings.s3_prefix, client=client, **options)
    return LocalBlobStore(settings.blob_dir)


def make_blobs(settings: Settings, secrets: Secrets, *, client: Any = None) -> EncryptedBlobs:
    """The encrypted photo store: the current key-encryption key and the retired ones."""
    return EncryptedBlobs(
        make_blob_store(settings, client=client),
        KeyRing.from_secrets(secrets.kek, *secrets.kek_retired),
    )


#: A temporary blob file untouched this long belongs to a write that will never finish.
ABANDONED_WRITE_SECONDS: Final = 3600


def sweep_abandoned_writes(blobs: EncryptedBlobs) -> int:
    """Delete temporary files of interrupted writes (local blob store only; S3 writes are
    whole objects or nothing)."""
    store = blobs.store
    if not isinstance(store, LocalBlobStore):
        return 0
    removed = store.sweep_temporary(ABANDONED_WRITE_SECONDS)
    if removed:
        logger.info("removed %d temporary blob files of interrupted writes", removed)
    return removed


def read_derivative(blobs: EncryptedBlobs, photo: Photo, kind: str) -> bytes:
    """The decrypted preview, thumbnail or master of a ready photo.

    A blob that is missing or fails authentication raises :class:`DamagedPhoto`: damaged or
    swapped data is never served as if it were the photo.
    """
    if kind not in DERIVATIVE_KINDS:
        raise NotFound()
    if photo.status is not PhotoStatus.READY or photo.wrapped_key is None:
        raise NotFound()
    try:
        return blobs.get(photo.id, kind, photo.wrapped_key)
    except BlobNotFoundError:
        logger.error("%s of ready photo %s is missing", kind, photo.id)
        raise DamagedPhoto(_("This photo's stored copy is missing and cannot be shown.")) from None
    except (BlobIntegrityError, UnknownKeyError):
        logger.error("%s of photo %s failed its integrity check", kind, photo.id)
        raise DamagedPhoto(
            _("This photo's stored copy failed its integrity check and is not shown.")
        ) from None
    except (StorageError, OSError) as error:
        # The store itself is away (a volume unmounted, the bucket unreachable): try later.
        logger.error("blob store unavailable reading %s of photo %s: %s", kind, photo.id, error)
        raise Unavailable(
            _("Photos cannot be loaded just now. Please try again shortly.")
        ) from None
