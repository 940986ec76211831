"""S3BlobStore against an in-memory stand-in for a boto3 client (boto3 is optional)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from app.storage import (
    BlobNotFoundError,
    BlobStore,
    EncryptedBlobs,
    InvalidBlobNameError,
    KeyRing,
    S3BlobStore,
)

ORIGINAL = "original"

NAME = "fedcba9876543210" * 4


class ClientError(Exception):
    """Shaped like botocore's: the S3 error code sits in ``response``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class StreamingBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self) -> bytes:
        return self._data


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail_with: str | None = None

    def _check(self) -> None:
        if self.fail_with:
            raise ClientError(self.fail_with)

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> None:  # noqa: N803
        self._check()
        self.objects[Bucket, Key] = Body

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self._check()
        try:
            return {"Body": StreamingBody(self.objects[Bucket, Key])}
        except KeyError:
            raise ClientError("NoSuchKey") from None

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self._check()
        if (Bucket, Key) not in self.objects:
            raise ClientError("404")
        return {}

    def delete_object(self, *, Bucket: str, Key: str) -> None:  # noqa: N803
        self._check()
        self.objects.pop((Bucket, Key), None)


@pytest.fixture
def client() -> FakeS3:
    return FakeS3()


@pytest.fixture
def store(client: FakeS3) -> S3BlobStore:
    return S3BlobStore("photos", prefix="blobs/", client=client)


def test_round_trip_under_a_fanned_out_key(store: S3BlobStore, client: FakeS3) -> None:
    store.put(NAME, b"sealed")
    assert client.objects == {("photos", f"blobs/fe/dc/{NAME}"): b"sealed"}
    assert store.get(NAME) == b"sealed"
    assert store.exists(NAME)
    store.delete(NAME)
    assert not store.exists(NAME)
    with pytest.raises(BlobNotFoundError):
        store.get(NAME)


def test_other_s3_errors_are_not_mistaken_for_missing(store: S3BlobStore, client: FakeS3) -> None:
    client.fail_with = "AccessDenied"
    with pytest.raises(ClientError):
        store.get(NAME)
    with pytest.raises(ClientError):
        store.exists(NAME)


@pytest.mark.parametrize("name", ["../" + NAME, NAME.upper(), "x"])
def test_invalid_names_never_reach_the_bucket(
    store: S3BlobStore, client: FakeS3, name: str
) -> None:
    with pytest.raises(InvalidBlobNameError):
        store.put(name, b"x")
    assert client.objects == {}


@pytest.mark.parametrize("prefix", ["blobs", "/blobs/", "../blobs/", "a/./b/", "a b/"])
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        S3BlobStore("photos", prefix=prefix, client=FakeS3())


def test_encrypted_blobs_work_on_s3(store: S3BlobStore, client: FakeS3) -> None:
    assert isinstance(store, BlobStore)
    blobs = EncryptedBlobs(store, KeyRing.from_secrets(b"k" * 40))
    key = blobs.new_data_key()
    blobs.put(5, ORIGINAL, b"\xff\xd8\xff photo", key)
    (stored,) = client.objects.values()
    assert b"\xff\xd8\xff" not in stored
    assert blobs.get(5, ORIGINAL, key.wrapped) == b"\xff\xd8\xff photo"


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import boto3` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(RuntimeError, match="'s3' extra"):
        S3BlobStore("photos")


def test_importing_storage_does_not_import_boto3() -> None:
    code = "import sys, app.storage; print('boto3' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
