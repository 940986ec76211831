"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph…); needs the ``s3`` extra (boto3)."""

from __future__ import annotations

import importlib
import re
from typing import Any, Final

from app.storage.base import fanout
from app.storage.errors import BlobNotFoundError

_NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_PREFIX: Final = re.compile(r"([A-Za-z0-9._-]+/)*")


def _is_not_found(exc: Exception) -> bool:
    # botocore.exceptions.ClientError carries the S3 error code in .response; matching on
    # that shape keeps botocore out of the imports of this module.
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error = response.get("Error")
    return isinstance(error, dict) and str(error.get("Code")) in _NOT_FOUND_CODES


class S3BlobStore:
    """One object per blob under ``prefix`` + ``ab/cd/abcd…`` in ``bucket``.

    ``client`` is any boto3-compatible S3 client; when omitted one is made with
    ``boto3.client("s3", **client_options)``. S3 writes a whole object or nothing, so no
    temporary objects are needed. The bucket should block public access; blobs are already
    encrypted by :class:`app.storage.EncryptedBlobs`, so server-side encryption is optional.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        **client_options: Any,
    ) -> None:
        if not bucket:
            msg = "bucket must not be empty"
            raise ValueError(msg)
        if _PREFIX.fullmatch(prefix) is None:
            msg = f"prefix must be empty or end with '/': {prefix!r}"
            raise ValueError(msg)
        if {".", ".."} & set(prefix.split("/")):
            msg = f"prefix must not contain '.' or '..' segments: {prefix!r}"
            raise ValueError(msg)
        if client is None:
            try:
                # Imported here so that the package works without the optional extra.
                boto3 = importlib.import_module("boto3")
            except ImportError as exc:
                msg = "S3 storage needs boto3: install PhotoGate with the 's3' extra"
                raise RuntimeError(msg) from exc
            client = boto3.client("s3", **client_options)
        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = client

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def key_for(self, name: str) -> str:
        """The object key of the blob named ``name`` (validated first)."""
        first, second, leaf = fanout(name)
        return f"{self.prefix}{first}/{second}/{leaf}"

    def put(self, name: str, data: bytes) -> None:
        """Upload ``data`` as one object."""
        self._client.put_object(Bucket=self.bucket, Key=self.key_for(name), Body=bytes(data))

    def get(self, name: str) -> bytes:
        """Download the object; :class:`BlobNotFoundError` if absent."""
        key = self.key_for(name)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_not_found(exc):
                raise BlobNotFoundError(name) from None
            raise
        return bytes(response["Body"].read())

    def delete(self, name: str) -> None:
        """Delete the object (S3 treats a missing object as deleted)."""
        self._client.delete_object(Bucket=self.bucket, Key=self.key_for(name))

    def exists(self, name: str) -> bool:
        """Whether the object exists (a HEAD request)."""
        key = self.key_for(name)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_not_found(exc):
                return False
            raise
        return True
