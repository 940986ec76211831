"""LocalBlobStore: opaque names, atomic private files, no way out of the root."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from app.storage import (
    BlobNotFoundError,
    BlobStore,
    InvalidBlobNameError,
    LocalBlobStore,
    MemoryBlobStore,
)

NAME = "0123456789abcdef" * 4


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_put_then_get_returns_the_bytes(store: LocalBlobStore) -> None:
    store.put(NAME, b"sealed bytes")
    assert store.get(NAME) == b"sealed bytes"
    assert store.exists(NAME)


def test_blobs_are_fanned_out_into_two_directory_levels(store: LocalBlobStore) -> None:
    store.put(NAME, b"x")
    assert _files(store.root) == [store.root / "01" / "23" / NAME]


def test_files_are_private_and_directories_closed(store: LocalBlobStore) -> None:
    store.put(NAME, b"x")
    path = store.path_for(NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (store.root, path.parent.parent, path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0, directory


def test_put_replaces_and_leaves_no_temporary_files(store: LocalBlobStore) -> None:
    store.put(NAME, b"first")
    store.put(NAME, b"second")
    assert store.get(NAME) == b"second"
    assert [p.name for p in _files(store.root)] == [NAME]


def test_failed_write_keeps_the_old_blob_and_no_debris(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(NAME, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(NAME, b"new")

    assert store.get(NAME) == b"old"
    assert [p.name for p in _files(store.root)] == [NAME]


def test_missing_blob_is_not_found(store: LocalBlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        store.get(NAME)
    assert not store.exists(NAME)


def test_delete_is_idempotent(store: LocalBlobStore) -> None:
    store.put(NAME, b"x")
    store.delete(NAME)
    store.delete(NAME)
    assert not store.exists(NAME)


BAD_NAMES = [
    "",
    "..",
    "../" + NAME,
    "../../etc/passwd",
    "/etc/passwd",
    NAME[:31],
    NAME + "/..",
    NAME.upper(),
    "g" * 32,
    NAME[:32] + "\x00",
    NAME[:32] + "\n",
    "a" * 129,
    "01/23/" + NAME,
    "\\..\\" + NAME,
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("operation", ["put", "get", "delete", "exists"])
def test_names_that_are_not_plain_hex_are_refused(
    tmp_path: Path, name: str, operation: str
) -> None:
    store = LocalBlobStore(tmp_path / "root" / "blobs")
    calls: dict[str, Callable[[], object]] = {
        "put": lambda: store.put(name, b"x"),
        "get": lambda: store.get(name),
        "delete": lambda: store.delete(name),
        "exists": lambda: store.exists(name),
    }
    with pytest.raises(InvalidBlobNameError):
        calls[operation]()
    assert _files(tmp_path) == []


def test_memory_store_follows_the_same_rules() -> None:
    store = MemoryBlobStore()
    store.put(NAME, b"x")
    assert store.get(NAME) == b"x"
    assert store.names() == [NAME]
    store.delete(NAME)
    with pytest.raises(BlobNotFoundError):
        store.get(NAME)
    with pytest.raises(InvalidBlobNameError):
        store.put("../x", b"x")


def test_stores_satisfy_the_protocol(store: LocalBlobStore) -> None:
    assert isinstance(store, BlobStore)
    assert isinstance(MemoryBlobStore(), BlobStore)
