"""EncryptedBlobs: nothing readable at rest, and every kind of tampering is detected."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from app.storage import (
    BlobIntegrityError,
    BlobNotFoundError,
    DataKey,
    EncryptedBlobs,
    KeyRing,
    LocalBlobStore,
    MemoryBlobStore,
    StorageError,
    blob_name,
    open_sealed,
    seal,
)

ORIGINAL = "original"
PREVIEW = "preview"
THUMBNAIL = "thumbnail"

KEK = b"a" * 32 + b"-test-kek-one"


def _photo(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").save(out, fmt)
    return out.getvalue()


JPEG = _photo("JPEG")
PNG = _photo("PNG")


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def blobs(store: LocalBlobStore) -> EncryptedBlobs:
    return EncryptedBlobs(store, KeyRing.from_secrets(KEK))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_round_trip_of_all_three_kinds(blobs: EncryptedBlobs) -> None:
    key = blobs.new_data_key()
    for kind, data in ((ORIGINAL, JPEG), (PREVIEW, PNG), (THUMBNAIL, b"tiny")):
        blobs.put(42, kind, data, key)
    assert blobs.get(42, ORIGINAL, key.wrapped) == JPEG
    assert blobs.get(42, PREVIEW, key) == PNG
    assert blobs.get("42", THUMBNAIL, blobs.open_key(key.wrapped)) == b"tiny"
    assert blobs.exists(42, ORIGINAL, key)
    blobs.delete(42, ORIGINAL, key.wrapped)
    assert not blobs.exists(42, ORIGINAL, key)
    with pytest.raises(BlobNotFoundError):
        blobs.get(42, ORIGINAL, key)


def test_nothing_on_disk_looks_like_a_photo_or_names_it(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    key = blobs.new_data_key()
    blobs.put("photo-1234", ORIGINAL, JPEG, key)
    blobs.put("photo-1234", PREVIEW, PNG, key)

    files = _files(store.root)
    assert len(files) == 2
    for path in files:
        content = path.read_bytes()
        assert b"\xff\xd8\xff" not in content
        assert b"\x89PNG" not in content
        assert b"JFIF" not in content
        assert b"IHDR" not in content
        for plaintext in (JPEG, PNG):
            for start in range(0, len(plaintext) - 16, max(1, len(plaintext) // 50)):
                assert plaintext[start : start + 16] not in content
        relative = str(path.relative_to(store.root))
        for revealing in ("photo", "1234", "original", "preview"):
            assert revealing not in relative


def test_same_bytes_encrypt_differently_each_time(blobs: EncryptedBlobs) -> None:
    key = blobs.new_data_key()
    assert seal(JPEG, key, 1, ORIGINAL) != seal(JPEG, key, 1, ORIGINAL)


def test_every_flipped_byte_of_a_blob_is_detected(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    key = blobs.new_data_key()
    blobs.put(7, THUMBNAIL, b"a small thumbnail", key)
    (path,) = _files(store.root)
    length = len(path.read_bytes())
    for offset in range(length):
        _flip(path, offset)
        with pytest.raises(BlobIntegrityError):
            blobs.get(7, THUMBNAIL, key)
        _flip(path, offset)
    assert blobs.get(7, THUMBNAIL, key) == b"a small thumbnail"


def test_flipped_byte_in_a_large_photo_is_detected(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    key = blobs.new_data_key()
    blobs.put(7, ORIGINAL, JPEG, key)
    (path,) = _files(store.root)
    _flip(path, len(JPEG) // 2)
    with pytest.raises(BlobIntegrityError, match="failed authentication"):
        blobs.get(7, ORIGINAL, key)


@pytest.mark.parametrize("cut", [0, 1, 12, 28, -1])
def test_truncated_blob_is_detected(blobs: EncryptedBlobs, store: LocalBlobStore, cut: int) -> None:
    key = blobs.new_data_key()
    blobs.put(7, ORIGINAL, JPEG, key)
    (path,) = _files(store.root)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(BlobIntegrityError):
        blobs.get(7, ORIGINAL, key)


def test_every_flipped_byte_of_a_wrapped_key_is_detected(blobs: EncryptedBlobs) -> None:
    key = blobs.new_data_key()
    blobs.put(7, ORIGINAL, JPEG, key)
    for offset in range(len(key.wrapped)):
        damaged = bytearray(key.wrapped)
        damaged[offset] ^= 0x01
        with pytest.raises(BlobIntegrityError):
            blobs.get(7, ORIGINAL, bytes(damaged))
    for malformed in (b"", key.wrapped[:-1], key.wrapped + b"\x00"):
        with pytest.raises(BlobIntegrityError):
            blobs.open_key(malformed)


def test_blobs_swapped_between_photos_fail_to_decrypt(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    first, second = blobs.new_data_key(), blobs.new_data_key()
    blobs.put(1, ORIGINAL, JPEG, first)
    blobs.put(2, ORIGINAL, PNG, second)
    path_1 = store.path_for(blob_name(first, 1, ORIGINAL))
    path_2 = store.path_for(blob_name(second, 2, ORIGINAL))
    content_1, content_2 = path_1.read_bytes(), path_2.read_bytes()
    path_1.write_bytes(content_2)
    path_2.write_bytes(content_1)

    with pytest.raises(BlobIntegrityError):
        blobs.get(1, ORIGINAL, first)
    with pytest.raises(BlobIntegrityError):
        blobs.get(2, ORIGINAL, second)


def test_photo_id_is_bound_even_under_the_same_data_key(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    # Defence in depth: if a caller ever reused a data key, the associated data still
    # keeps photo 1's blob from being served as photo 2.
    key = blobs.new_data_key()
    blobs.put(1, ORIGINAL, JPEG, key)
    blobs.put(2, ORIGINAL, PNG, key)
    store.put(blob_name(key, 2, ORIGINAL), store.get(blob_name(key, 1, ORIGINAL)))

    with pytest.raises(BlobIntegrityError):
        blobs.get(2, ORIGINAL, key)


def test_blobs_swapped_between_kinds_fail_to_decrypt(
    blobs: EncryptedBlobs, store: LocalBlobStore
) -> None:
    key = blobs.new_data_key()
    blobs.put(1, ORIGINAL, JPEG, key)
    blobs.put(1, PREVIEW, PNG, key)
    original_name, preview_name = blob_name(key, 1, ORIGINAL), blob_name(key, 1, PREVIEW)
    original, preview = store.get(original_name), store.get(preview_name)
    store.put(original_name, preview)
    store.put(preview_name, original)

    with pytest.raises(BlobIntegrityError):
        blobs.get(1, ORIGINAL, key)
    with pytest.raises(BlobIntegrityError):
        blobs.get(1, PREVIEW, key)


def test_wrapped_keys_swapped_between_photos_never_return_the_other_photo(
    blobs: EncryptedBlobs,
) -> None:
    first, second = blobs.new_data_key(), blobs.new_data_key()
    blobs.put(1, ORIGINAL, JPEG, first)
    blobs.put(2, ORIGINAL, PNG, second)
    with pytest.raises(StorageError):
        blobs.get(1, ORIGINAL, second.wrapped)


def test_seal_and_open_are_bound_to_photo_and_kind() -> None:
    blobs = EncryptedBlobs(MemoryBlobStore(), KeyRing.from_secrets(KEK))
    key = blobs.new_data_key()
    sealed = seal(b"pixels", key, "7", ORIGINAL)
    assert open_sealed(sealed, key, 7, ORIGINAL) == b"pixels"
    for photo_id, kind in (("8", ORIGINAL), ("7", PREVIEW), ("70", ORIGINAL)):
        with pytest.raises(BlobIntegrityError):
            open_sealed(sealed, key, photo_id, kind)


def test_names_differ_per_photo_kind_and_key() -> None:
    blobs = EncryptedBlobs(MemoryBlobStore(), KeyRing.from_secrets(KEK))
    key, other = blobs.new_data_key(), blobs.new_data_key()
    names = {
        blob_name(key, 1, ORIGINAL),
        blob_name(key, 1, PREVIEW),
        blob_name(key, 2, ORIGINAL),
        blob_name(other, 1, ORIGINAL),
    }
    assert len(names) == 4
    assert all(len(name) == 64 for name in names)


@pytest.mark.parametrize(
    ("photo_id", "kind"),
    [("", ORIGINAL), ("x" * 256, ORIGINAL), (1, "Original"), (1, "../x"), (1, ""), (True, "x")],
)
def test_bad_photo_ids_and_kinds_are_refused(photo_id: object, kind: str) -> None:
    blobs = EncryptedBlobs(MemoryBlobStore(), KeyRing.from_secrets(KEK))
    key = blobs.new_data_key()
    with pytest.raises((ValueError, TypeError)):
        blobs.put(photo_id, kind, b"x", key)  # type: ignore[arg-type]


def test_data_key_never_shows_its_secret() -> None:
    blobs = EncryptedBlobs(MemoryBlobStore(), KeyRing.from_secrets(KEK))
    key = blobs.new_data_key()
    assert key.key.hex() not in repr(key)
    assert str(key.key) not in repr(key)
    assert "aaaa" not in repr(blobs)
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(key=b"short", wrapped=b"")
