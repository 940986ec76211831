"""A blob store in a dict: for tests and throw-away demos."""

from __future__ import annotations

import threading

from app.storage.base import validate_blob_name
from app.storage.errors import BlobNotFoundError


class MemoryBlobStore:
    """Keeps blobs in process memory; lost on exit."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, name: str, data: bytes) -> None:
        """Store a copy of ``data``."""
        validate_blob_name(name)
        with self._lock:
            self._blobs[name] = bytes(data)

    def get(self, name: str) -> bytes:
        """The stored bytes."""
        validate_blob_name(name)
        with self._lock:
            try:
                return self._blobs[name]
            except KeyError:
                raise BlobNotFoundError(name) from None

    def delete(self, name: str) -> None:
        """Forget the blob if present."""
        validate_blob_name(name)
        with self._lock:
            self._blobs.pop(name, None)

    def exists(self, name: str) -> bool:
        """Whether the blob is present."""
        validate_blob_name(name)
        with self._lock:
            return name in self._blobs

    def names(self) -> list[str]:
        """Every stored name, sorted (tests use it to reach the raw ciphertext)."""
        with self._lock:
            return sorted(self._blobs)
