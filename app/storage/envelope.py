"""Envelope encryption of photo blobs: one random data key per photo, wrapped by a KEK.

Each blob is sealed with AES-256-GCM under a key derived from the photo's data key, with
the photo id and the blob kind as associated data: a blob moved to another photo or
another kind fails to decrypt instead of showing the wrong picture. Blob names are an
HMAC of (photo id, kind) under another key derived from the data key, so a directory
listing or bucket listing says nothing about which photo is which.

Stored blob layout::

    version (1) | nonce (12) | ciphertext + GCM tag (16)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.storage.base import BlobStore
from app.storage.errors import BlobIntegrityError
from app.storage.keys import DATA_KEY_BYTES, NONCE_BYTES, KeyRing, generate_data_key

_BLOB_VERSION: Final = 1
_CONTENT_INFO: Final = b"photogate/blob-content/v1"
_NAME_INFO: Final = b"photogate/blob-name/v1"
_AAD_LABEL: Final = b"photogate/blob/v1"
_TAG_BYTES: Final = 16
_KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_PHOTO_ID_BYTES: Final = 255

PhotoId = str | int


@dataclass(frozen=True, slots=True)
class DataKey:
    """A photo's data key: ``wrapped`` goes into the database, ``key`` stays in memory."""

    key: bytes = field(repr=False)
    wrapped: bytes

    def __post_init__(self) -> None:
        if len(self.key) != DATA_KEY_BYTES:
            msg = f"a data key is {DATA_KEY_BYTES} bytes, got {len(self.key)}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class _PhotoKeys:
    content: AESGCM
    naming: bytes


def _subkey(data_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)


def _photo_keys(key: DataKey) -> _PhotoKeys:
    return _PhotoKeys(
        content=AESGCM(_subkey(key.key, _CONTENT_INFO)),
        naming=_subkey(key.key, _NAME_INFO),
    )


def _context(photo_id: PhotoId, kind: str) -> bytes:
    """Unambiguous encoding of (photo id, kind): length-prefixed, so no two pairs collide."""
    if isinstance(photo_id, bool) or not isinstance(photo_id, int | str):
        msg = f"photo id must be a str or int, got {type(photo_id).__name__}"
        raise TypeError(msg)
    ident = str(photo_id).encode("utf-8")
    if not ident or len(ident) > _MAX_PHOTO_ID_BYTES:
        msg = f"photo id must be 1 to {_MAX_PHOTO_ID_BYTES} bytes long"
        raise ValueError(msg)
    if _KIND.fullmatch(kind) is None:
        msg = f"blob kind must match {_KIND.pattern}, got {kind!r}"
        raise ValueError(msg)
    encoded_kind = kind.encode("ascii")
    return (
        _AAD_LABEL
        + len(ident).to_bytes(2, "big")
        + ident
        + len(encoded_kind).to_bytes(1, "big")
        + encoded_kind
    )


def blob_name(key: DataKey, photo_id: PhotoId, kind: str) -> str:
    """The store name of one blob: 64 hex characters that reveal neither photo nor kind."""
    return hmac.new(_photo_keys(key).naming, _context(photo_id, kind), hashlib.sha256).hexdigest()


def seal(data: bytes, key: DataKey, photo_id: PhotoId, kind: str) -> bytes:
    """Encrypt one blob, bound to its photo and kind."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _photo_keys(key).content.encrypt(nonce, bytes(data), _context(photo_id, kind))
    return bytes([_BLOB_VERSION]) + nonce + sealed


def open_sealed(blob: bytes, key: DataKey, photo_id: PhotoId, kind: str) -> bytes:
    """Decrypt one blob; :class:`BlobIntegrityError` unless it is exactly what was sealed."""
    context = _context(photo_id, kind)
    if len(blob) < 1 + NONCE_BYTES + _TAG_BYTES or blob[0] != _BLOB_VERSION:
        msg = f"stored {kind} of photo {photo_id} is not a blob this version can read"
        raise BlobIntegrityError(msg)
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return _photo_keys(key).content.decrypt(nonce, sealed, context)
    except InvalidTag:
        msg = (
            f"stored {kind} of photo {photo_id} failed authentication: "
            "it was altered, damaged, or belongs to another photo or kind"
        )
        raise BlobIntegrityError(msg) from None


class EncryptedBlobs:
    """Encrypted photo blobs on any :class:`BlobStore`.

    Upload::

        key = blobs.new_data_key()
        blobs.put(photo.id, "original", original_jpeg, key)
        blobs.put(photo.id, "preview", preview_jpeg, key)
        photo.wrapped_key = key.wrapped          # bytes column

    Download::

        data = blobs.get(photo.id, "original", photo.wrapped_key)

    Every method taking ``key`` accepts the :class:`DataKey` or its wrapped bytes; pass the
    :class:`DataKey` (see :meth:`open_key`) when touching several blobs of one photo, to
    unwrap only once.
    """

    def __init__(self, store: BlobStore, keyring: KeyRing) -> None:
        self.store = store
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"EncryptedBlobs(store={self.store!r}, keyring={self.keyring!r})"

    def new_data_key(self) -> DataKey:
        """A fresh data key for a new photo, already wrapped by the current KEK."""
        plain = generate_data_key()
        return DataKey(key=plain, wrapped=self.keyring.wrap(plain))

    def open_key(self, wrapped: bytes) -> DataKey:
        """Unwrap a stored data key (any KEK still in the keyring)."""
        return DataKey(key=self.keyring.unwrap(wrapped), wrapped=bytes(wrapped))

    def _key(self, key: DataKey | bytes) -> DataKey:
        return key if isinstance(key, DataKey) else self.open_key(key)

    def put(self, photo_id: PhotoId, kind: str, data: bytes, key: DataKey | bytes) -> None:
        """Encrypt and store one blob of a photo (replacing an earlier one of that kind)."""
        data_key = self._key(key)
        self.store.put(blob_name(data_key, photo_id, kind), seal(data, data_key, photo_id, kind))

    def get(self, photo_id: PhotoId, kind: str, key: DataKey | bytes) -> bytes:
        """Fetch and decrypt one blob; raises BlobNotFoundError or BlobIntegrityError."""
        data_key = self._key(key)
        blob = self.store.get(blob_name(data_key, photo_id, kind))
        return open_sealed(blob, data_key, photo_id, kind)

    def delete(self, photo_id: PhotoId, kind: str, key: DataKey | bytes) -> None:
        """Remove one blob (no error if it is already gone)."""
        self.store.delete(blob_name(self._key(key), photo_id, kind))

    def exists(self, photo_id: PhotoId, kind: str, key: DataKey | bytes) -> bool:
        """Whether the blob is stored (its content is not checked)."""
        return self.store.exists(blob_name(self._key(key), photo_id, kind))

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """Whether a stored wrapped key predates the current KEK."""
        return self.keyring.needs_rewrap(wrapped)

    def rewrap(self, wrapped: bytes) -> bytes:
        """The wrapped key re-wrapped by the current KEK; store it in place of the old one."""
        return self.keyring.rewrap(wrapped)
