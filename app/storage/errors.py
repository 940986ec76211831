"""Exceptions of the blob store; callers catch these, never OS or crypto library errors."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every blob-store error."""


class BlobNotFoundError(StorageError, LookupError):
    """No blob is stored under that name."""


class InvalidBlobNameError(StorageError, ValueError):
    """A blob name that is not lowercase hex of the allowed length (never a path)."""


class BlobIntegrityError(StorageError):
    """A blob or wrapped key failed authentication: tampered, swapped, truncated or corrupt.

    Raised instead of returning anything, so damaged data can never pass for a photo.
    """


class UnknownKeyError(BlobIntegrityError):
    """The data key was wrapped by a key-encryption key that is not in the keyring."""
