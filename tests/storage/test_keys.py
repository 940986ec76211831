"""Key-encryption keys: wrapping, rotation without re-encrypting photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.storage import (
    BlobIntegrityError,
    EncryptedBlobs,
    KeyEncryptionKey,
    KeyRing,
    LocalBlobStore,
    UnknownKeyError,
    fingerprint,
    generate_data_key,
    rewrap,
    wrapped_key_id,
)

ORIGINAL = "original"

# Shaped like the files the application generates: 64 hex characters.
OLD_SECRET = b"0f" * 32
NEW_SECRET = b"e1" * 32


def test_wrap_unwrap_round_trip() -> None:
    kek = KeyEncryptionKey(OLD_SECRET)
    data_key = generate_data_key()
    wrapped = kek.wrap(data_key)
    assert kek.unwrap(wrapped) == data_key
    assert data_key not in wrapped
    assert wrapped_key_id(wrapped) == kek.key_id == fingerprint(OLD_SECRET)


def test_wrapping_twice_gives_different_bytes() -> None:
    kek = KeyEncryptionKey(OLD_SECRET)
    data_key = generate_data_key()
    assert kek.wrap(data_key) != kek.wrap(data_key)


def test_key_ids_are_stable_and_distinct() -> None:
    assert fingerprint(OLD_SECRET) == fingerprint(OLD_SECRET)
    assert fingerprint(OLD_SECRET) != fingerprint(NEW_SECRET)
    assert OLD_SECRET.decode() not in fingerprint(OLD_SECRET)
    assert KeyEncryptionKey(OLD_SECRET, key_id="2025-01").key_id == "2025-01"


def test_rotation_keeps_old_photos_readable_without_touching_them(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    before = EncryptedBlobs(store, KeyRing.from_secrets(OLD_SECRET))
    key = before.new_data_key()
    before.put(9, ORIGINAL, b"original photo bytes", key)
    on_disk = {p: p.read_bytes() for p in (tmp_path / "blobs").rglob("*") if p.is_file()}

    during = EncryptedBlobs(store, KeyRing.from_secrets(NEW_SECRET, OLD_SECRET))
    assert during.get(9, ORIGINAL, key.wrapped) == b"original photo bytes"
    assert during.needs_rewrap(key.wrapped)
    rewrapped = during.rewrap(key.wrapped)
    assert wrapped_key_id(rewrapped) == fingerprint(NEW_SECRET)
    assert not during.needs_rewrap(rewrapped)
    assert during.rewrap(rewrapped) == rewrapped

    after = EncryptedBlobs(store, KeyRing.from_secrets(NEW_SECRET))
    assert after.get(9, ORIGINAL, rewrapped) == b"original photo bytes"
    with pytest.raises(UnknownKeyError):
        after.get(9, ORIGINAL, key.wrapped)
    # The photo itself was never re-encrypted.
    assert {p: p.read_bytes() for p in on_disk} == on_disk


def test_rewrap_function_moves_a_key_between_keks() -> None:
    old, new = KeyEncryptionKey(OLD_SECRET), KeyEncryptionKey(NEW_SECRET)
    data_key = generate_data_key()
    moved = rewrap(old.wrap(data_key), old, new)
    assert new.unwrap(moved) == data_key
    with pytest.raises(UnknownKeyError):
        old.unwrap(moved)
    with pytest.raises(UnknownKeyError):
        rewrap(moved, old, new)


def test_a_kek_with_a_forged_id_cannot_unwrap() -> None:
    real = KeyEncryptionKey(OLD_SECRET, key_id="k1")
    impostor = KeyEncryptionKey(NEW_SECRET, key_id="k1")
    with pytest.raises(BlobIntegrityError, match="failed authentication"):
        impostor.unwrap(real.wrap(generate_data_key()))


def test_unknown_key_is_an_integrity_error_that_names_the_key() -> None:
    wrapped = KeyEncryptionKey(OLD_SECRET, key_id="retired-2024").wrap(generate_data_key())
    ring = KeyRing.from_secrets(NEW_SECRET)
    with pytest.raises(UnknownKeyError, match="retired-2024") as caught:
        ring.unwrap(wrapped)
    assert isinstance(caught.value, BlobIntegrityError)


def test_rewrap_of_a_current_key_still_checks_it() -> None:
    ring = KeyRing.from_secrets(NEW_SECRET)
    damaged = bytearray(ring.wrap(generate_data_key()))
    damaged[-1] ^= 1
    with pytest.raises(BlobIntegrityError):
        ring.rewrap(bytes(damaged))


def test_weak_or_malformed_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        KeyEncryptionKey(b"short")
    with pytest.raises(ValueError, match="key id"):
        KeyEncryptionKey(OLD_SECRET, key_id="no spaces/allowed")
    with pytest.raises(ValueError, match="twice"):
        KeyRing.from_secrets(OLD_SECRET, OLD_SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        KeyEncryptionKey(OLD_SECRET).wrap(b"too short")


def test_reprs_hold_no_secret() -> None:
    ring = KeyRing.from_secrets(NEW_SECRET, OLD_SECRET)
    text = repr(ring) + repr(ring.current)
    assert "e1e1" not in text
    assert "0f0f" not in text
    assert ring.key_ids == {fingerprint(NEW_SECRET), fingerprint(OLD_SECRET)}
