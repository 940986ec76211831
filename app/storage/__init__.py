"""Encrypted blob storage: opaque bytes behind a small Protocol, envelope-encrypted.

Callers name their blobs by an owner id and a kind (``app.photos.blobs`` defines the
kinds of a photo); only the wrapped data key (a few dozen bytes) goes into the database.
See :mod:`app.storage.envelope` for the scheme.
"""

from __future__ import annotations

from app.storage.base import BlobStore, fanout, validate_blob_name
from app.storage.envelope import (
    DataKey,
    EncryptedBlobs,
    PhotoId,
    blob_name,
    open_sealed,
    seal,
)
from app.storage.errors import (
    BlobIntegrityError,
    BlobNotFoundError,
    InvalidBlobNameError,
    StorageError,
    UnknownKeyError,
)
from app.storage.keys import (
    KeyEncryptionKey,
    KeyRing,
    fingerprint,
    generate_data_key,
    rewrap,
    sealed_value_key_id,
    wrapped_key_id,
)
from app.storage.local import LocalBlobStore
from app.storage.memory import MemoryBlobStore
from app.storage.s3 import S3BlobStore

__all__ = [
    "BlobIntegrityError",
    "BlobNotFoundError",
    "BlobStore",
    "DataKey",
    "EncryptedBlobs",
    "InvalidBlobNameError",
    "KeyEncryptionKey",
    "KeyRing",
    "LocalBlobStore",
    "MemoryBlobStore",
    "PhotoId",
    "S3BlobStore",
    "StorageError",
    "UnknownKeyError",
    "blob_name",
    "fanout",
    "fingerprint",
    "generate_data_key",
    "open_sealed",
    "rewrap",
    "seal",
    "sealed_value_key_id",
    "validate_blob_name",
    "wrapped_key_id",
]
