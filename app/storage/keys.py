"""Key-encryption keys (KEKs) and the wrapping of per-photo data keys.

A wrapped data key is a short byte string meant for a database column::

    version (1) | key-id length (1) | key id (ASCII) | nonce (12) | AES-GCM(data key) + tag

The header is authenticated as associated data, so the key id cannot be altered to point
at another KEK. Rotating the KEK re-wraps these few bytes; photos are never re-encrypted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.storage.errors import BlobIntegrityError, UnknownKeyError

DATA_KEY_BYTES: Final = 32  # AES-256
MIN_SECRET_BYTES: Final = 32
NONCE_BYTES: Final = 12

_WRAP_VERSION: Final = 1
_WRAP_AAD: Final = b"photogate/wrapped-data-key/v1"
_VALUE_VERSION: Final = 2
_VALUE_AAD: Final = b"photogate/sealed-value/v1"
#: A sealed value holds at most this much (short secrets: TOTP seeds and the like).
MAX_SEALED_VALUE: Final = 1024
_KEK_INFO: Final = b"photogate/key-encryption-key/v1"
_KEY_ID_INFO: Final = b"photogate/key-id/v1"
_KEY_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SEALED_KEY_BYTES: Final = DATA_KEY_BYTES + 16  # GCM tag


def generate_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def fingerprint(secret: bytes) -> str:
    """A stable public id for a secret: 16 hex characters that reveal nothing about it."""
    return hmac.new(secret, _KEY_ID_INFO, hashlib.sha256).hexdigest()[:16]


class KeyEncryptionKey:
    """One KEK: wraps and unwraps data keys with AES-256-GCM.

    ``secret`` is the raw content of the KEK file (at least 32 random bytes, any
    encoding); the AES key is derived from it with HKDF, so hex or base64 files both work.
    ``key_id`` defaults to the secret's fingerprint, which lets old KEK files simply be
    listed in a :class:`KeyRing` without naming them.
    """

    __slots__ = ("_aead", "key_id")

    def __init__(self, secret: bytes, key_id: str | None = None) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            msg = f"a key-encryption key needs at least {MIN_SECRET_BYTES} bytes of secret"
            raise ValueError(msg)
        key_id = fingerprint(secret) if key_id is None else key_id
        if _KEY_ID.fullmatch(key_id) is None:
            msg = f"key id must be 1 to 64 of A-Z a-z 0-9 . _ -, got {key_id!r}"
            raise ValueError(msg)
        self.key_id = key_id
        self._aead = AESGCM(_derive(secret, _KEK_INFO))

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(key_id={self.key_id!r})"

    def _header(self) -> bytes:
        encoded = self.key_id.encode("ascii")
        return bytes([_WRAP_VERSION, len(encoded)]) + encoded

    def wrap(self, data_key: bytes) -> bytes:
        """The data key encrypted under this KEK, with this KEK's id in front."""
        if len(data_key) != DATA_KEY_BYTES:
            msg = f"a data key is {DATA_KEY_BYTES} bytes, got {len(data_key)}"
            raise ValueError(msg)
        header = self._header()
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._aead.encrypt(nonce, data_key, _WRAP_AAD + header)

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key; :class:`BlobIntegrityError` if tampered, another KEK's, or malformed."""
        key_id, header, body = parse_wrapped_key(wrapped)
        if key_id != self.key_id:
            msg = f"data key was wrapped by key {key_id!r}, not {self.key_id!r}"
            raise UnknownKeyError(msg)
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, sealed, _WRAP_AAD + header)
        except InvalidTag:
            msg = f"wrapped data key failed authentication (key {key_id!r})"
            raise BlobIntegrityError(msg) from None


def _value_header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes([_VALUE_VERSION, len(encoded)]) + encoded


def seal_value(kek: KeyEncryptionKey, value: bytes, context: bytes) -> bytes:
    """A short secret (a TOTP seed) encrypted under ``kek`` for one ``context`` (e.g. the
    row it belongs to), so a sealed value copied to another row does not open.

    Layout: version 2 | key-id length | key id | nonce (12) | AES-GCM(value) + tag.
    """
    if len(value) > MAX_SEALED_VALUE:
        msg = f"a sealed value holds at most {MAX_SEALED_VALUE} bytes"
        raise ValueError(msg)
    header = _value_header(kek.key_id)
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + kek._aead.encrypt(nonce, value, _VALUE_AAD + header + context)


def sealed_value_key_id(sealed: bytes) -> str:
    """The id of the KEK that sealed a value (read from the header, not verified)."""
    return _parse_sealed_value(sealed)[0]


def _parse_sealed_value(sealed: bytes) -> tuple[str, bytes, bytes]:
    sealed = bytes(sealed)
    if len(sealed) < 2 or sealed[0] != _VALUE_VERSION:
        msg = "sealed value has an unknown format"
        raise BlobIntegrityError(msg)
    header_length = 2 + sealed[1]
    if len(sealed) < header_length + NONCE_BYTES + 16:
        msg = "sealed value is too short"
        raise BlobIntegrityError(msg)
    try:
        key_id = sealed[2:header_length].decode("ascii")
    except UnicodeDecodeError:
        key_id = ""
    if _KEY_ID.fullmatch(key_id) is None:
        msg = "sealed value names an invalid key id"
        raise BlobIntegrityError(msg)
    return key_id, sealed[:header_length], sealed[header_length:]


def open_value(kek: KeyEncryptionKey, sealed: bytes, context: bytes) -> bytes:
    """The value; :class:`BlobIntegrityError` if tampered, of another context, or malformed."""
    key_id, header, body = _parse_sealed_value(sealed)
    if key_id != kek.key_id:
        msg = f"value was sealed by key {key_id!r}, not {kek.key_id!r}"
        raise UnknownKeyError(msg)
    try:
        return kek._aead.decrypt(
            body[:NONCE_BYTES], body[NONCE_BYTES:], _VALUE_AAD + header + context
        )
    except InvalidTag:
        msg = f"sealed value failed authentication (key {key_id!r})"
        raise BlobIntegrityError(msg) from None


def parse_wrapped_key(wrapped: bytes) -> tuple[str, bytes, bytes]:
    """Split a wrapped key into (key id, header, nonce + sealed key), checking the layout."""
    wrapped = bytes(wrapped)
    if len(wrapped) < 2 or wrapped[0] != _WRAP_VERSION:
        msg = "wrapped data key has an unknown format"
        raise BlobIntegrityError(msg)
    id_length = wrapped[1]
    header_length = 2 + id_length
    if len(wrapped) != header_length + NONCE_BYTES + _SEALED_KEY_BYTES:
        msg = "wrapped data key has the wrong length"
        raise BlobIntegrityError(msg)
    try:
        key_id = wrapped[2:header_length].decode("ascii")
    except UnicodeDecodeError:
        key_id = ""
    if _KEY_ID.fullmatch(key_id) is None:
        msg = "wrapped data key names an invalid key id"
        raise BlobIntegrityError(msg)
    return key_id, wrapped[:header_length], wrapped[header_length:]


def wrapped_key_id(wrapped: bytes) -> str:
    """The id of the KEK that wrapped this data key (read from the header, not verified)."""
    return parse_wrapped_key(wrapped)[0]


def rewrap(wrapped_key: bytes, old_kek: KeyEncryptionKey, new_kek: KeyEncryptionKey) -> bytes:
    """Move a wrapped data key from ``old_kek`` to ``new_kek``; the photo blobs stay as they are."""
    return new_kek.wrap(old_kek.unwrap(wrapped_key))


class KeyRing:
    """The current KEK, which wraps new data keys, and older ones kept to unwrap old rows.

    Rotation: put the new KEK first, keep the old ones, re-wrap every stored key with
    :meth:`rewrap` (:meth:`needs_rewrap` finds them), then drop the old KEK.
    """

    def __init__(self, current: KeyEncryptionKey, older: Iterable[KeyEncryptionKey] = ()) -> None:
        self.current = current
        self._keys: dict[str, KeyEncryptionKey] = {current.key_id: current}
        for kek in older:
            if kek.key_id in self._keys:
                msg = f"key id {kek.key_id!r} appears twice in the keyring"
                raise ValueError(msg)
            self._keys[kek.key_id] = kek

    @classmethod
    def from_secrets(cls, current: bytes, *older: bytes) -> KeyRing:
        """A keyring from raw KEK file contents, ids derived from the secrets."""
        return cls(KeyEncryptionKey(current), [KeyEncryptionKey(secret) for secret in older])

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current.key_id!r}, keys={sorted(self._keys)!r})"

    @property
    def key_ids(self) -> frozenset[str]:
        """Ids of every KEK this ring can unwrap with."""
        return frozenset(self._keys)

    def wrap(self, data_key: bytes) -> bytes:
        """Wrap with the current KEK."""
        return self.current.wrap(data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap with whichever KEK the header names."""
        key_id = wrapped_key_id(wrapped)
        kek = self._keys.get(key_id)
        if kek is None:
            msg = f"data key was wrapped by key {key_id!r}, which is not in the keyring"
            raise UnknownKeyError(msg)
        return kek.unwrap(wrapped)

    def seal(self, value: bytes, context: bytes) -> bytes:
        """Seal a short secret with the current KEK (see :func:`seal_value`)."""
        return seal_value(self.current, value, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """Open a sealed value with whichever KEK its header names."""
        key_id = sealed_value_key_id(sealed)
        kek = self._keys.get(key_id)
        if kek is None:
            msg = f"value was sealed by key {key_id!r}, which is not in the keyring"
            raise UnknownKeyError(msg)
        return open_value(kek, sealed, context)

    def needs_rewrap(self, wrapped: bytes) -> bool:
        """True if the key is wrapped by an older KEK than the current one."""
        return wrapped_key_id(wrapped) != self.current.key_id

    def rewrap(self, wrapped: bytes) -> bytes:
        """The same data key wrapped by the current KEK (unchanged if it already is)."""
        if not self.needs_rewrap(wrapped):
            # Still authenticate, so a damaged row is reported now and not at download time.
            self.current.unwrap(wrapped)
            return bytes(wrapped)
        return self.current.wrap(self.unwrap(wrapped))
