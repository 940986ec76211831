"""PHOTOGATE_BLOB_STORE=s3: the whole upload pipeline against a real S3 API on loopback.

moto's server speaks the S3 protocol over HTTP; boto3 talks to it exactly as to AWS or
MinIO, so this proves the setting works end to end, not only that a class exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.photos.blobs import MASTER, PREVIEW, THUMBNAIL
from app.photos.models import Photo, PhotoStatus
from app.storage import S3BlobStore
from app.web.context import runtime
from tests.studio.conftest import Studio
from tests.studio.support import SIGNATURES, api_upload, blob_files, decrypt, photo_bytes

BUCKET = "photogate-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty bucket; boto3 finds its (test) credentials where it finds real ones."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def settings(settings: Settings, s3_endpoint: str, bucket: Any) -> Settings:
    return Settings.from_env(
        {
            "PHOTOGATE_ENV": "test",
            "PHOTOGATE_VAR_DIR": str(settings.var_dir),
            "PHOTOGATE_DATABASE_URL": settings.database_url,
            "PHOTOGATE_BLOB_STORE": "s3",
            "PHOTOGATE_S3_BUCKET": BUCKET,
            "PHOTOGATE_S3_PREFIX": "photos/",
            "PHOTOGATE_S3_ENDPOINT_URL": s3_endpoint,
            "PHOTOGATE_S3_REGION": "us-east-1",
        }
    )


def test_uploads_are_stored_encrypted_in_the_bucket_and_processed(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, bucket: Any
) -> None:
    store = runtime(app).blobs.store
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (BUCKET, "photos/")

    response = api_upload(client, studio.token, studio.event.id, photo_bytes(seed=11))
    assert response.status_code == 201, response.get_json()
    photo = session.get(Photo, response.get_json()["photo"]["id"])
    assert photo is not None
    session.refresh(photo)
    assert photo.status is PhotoStatus.READY

    keys = [item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 4  # original, master, preview, thumbnail
    assert all(key.startswith("photos/") for key in keys)
    for key in keys:
        body = bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert not any(body.startswith(signature) for signature in SIGNATURES)
    for kind in (MASTER, PREVIEW, THUMBNAIL):
        assert decrypt(runtime(app).blobs, photo, kind).startswith(b"\xff\xd8\xff")
    # Nothing went to the local blob directory.
    assert blob_files(runtime(app).settings.blob_dir) == []


def test_s3_needs_a_bucket() -> None:
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="PHOTOGATE_S3_BUCKET"):
        Settings.from_env({"PHOTOGATE_ENV": "test", "PHOTOGATE_BLOB_STORE": "s3"})
