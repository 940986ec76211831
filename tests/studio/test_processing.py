"""The processing job: all or nothing, failures carry a reason, retries start from the
stored original, and damaged blobs are detected instead of served."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.auth.policies import SYSTEM
from app.db import utcnow
from app.errors import Conflict, NotFound
from app.i18n import use_locale
from app.photos import processing as processing_module
from app.photos.blobs import MASTER, ORIGINAL, PREVIEW, THUMBNAIL, DamagedPhoto, read_derivative
from app.photos.jobs import process_photo_job
from app.photos.models import Photo, PhotoStatus
from app.photos.processing import STALE_AFTER, retryable_photos
from app.photos.queries import visible_photos
from app.storage import BlobIntegrityError, EncryptedBlobs
from app.studio.services import retry_photo
from app.web.context import runtime
from tests.studio.conftest import Studio
from tests.studio.support import api_get, api_post_json, api_upload, decrypt, photo_bytes


def _upload(client: FlaskClient, studio: Studio, seed: int = 1) -> int:
    response = api_upload(client, studio.token, studio.event.id, photo_bytes(seed=seed))
    assert response.status_code == 201, response.get_json()
    photo_id: int = response.get_json()["photo"]["id"]
    return photo_id


def _photo(session: Session, photo_id: int) -> Photo:
    photo = session.get(Photo, photo_id)
    assert photo is not None
    session.refresh(photo)
    return photo


def test_error_mid_job_leaves_no_half_made_photo_and_retry_makes_it_ready(
    client: FlaskClient,
    session: Session,
    studio: Studio,
    blobs: EncryptedBlobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_put = EncryptedBlobs.put

    def put_failing_on_preview(
        self: EncryptedBlobs, photo_id: object, kind: str, *a: object
    ) -> None:
        if kind == PREVIEW:
            raise OSError(28, "No space left on device")
        real_put(self, photo_id, kind, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(EncryptedBlobs, "put", put_failing_on_preview)
    photo_id = _upload(client, studio)

    photo = _photo(session, photo_id)
    assert photo.status is PhotoStatus.FAILED
    assert photo.failure_code == "storage"
    assert photo.failure_reason == "The processed photo could not be stored; please retry."
    assert photo.master_sha256 is None
    assert photo not in visible_photos(session, studio.event)
    # The master was written before the failure, yet nothing of the photo is served.
    with pytest.raises(NotFound):
        read_derivative(blobs, photo, MASTER)
    assert decrypt(blobs, photo, ORIGINAL) == photo_bytes(seed=1)

    monkeypatch.setattr(EncryptedBlobs, "put", real_put)
    response = api_post_json(client, studio.token, f"/api/studio/photos/{photo_id}/retry", {})

    assert response.status_code == 202
    assert response.get_json()["status"] == "ready"
    photo = _photo(session, photo_id)
    assert photo.status is PhotoStatus.READY
    assert photo.failure_code is None
    assert photo in visible_photos(session, studio.event)
    for kind in (MASTER, PREVIEW, THUMBNAIL):
        assert read_derivative(blobs, photo, kind).startswith(b"\xff\xd8")


def test_unexpected_exception_in_the_job_fails_the_photo_with_a_reason(
    client: FlaskClient, session: Session, studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(processing_module, "perceptual_hash", explode)

    photo = _photo(session, _upload(client, studio))

    assert photo.status is PhotoStatus.FAILED
    assert photo.failure_code == "internal"
    body = api_get(client, studio.token, f"/api/studio/photos/{photo.id}").get_json()
    assert body["failure"]["reason"] == "Processing failed on our side. Please retry."
    assert body["retryable"] is True


def test_crash_before_the_job_finishes_leaves_a_pending_photo_that_is_never_visible(
    app: Flask,
    client: FlaskClient,
    session: Session,
    studio: Studio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker dies (OOM, SIGKILL) after the upload was stored: nothing marks the row.
    monkeypatch.setattr("app.studio.web.enqueue_processing", lambda *_a: None)
    photo = _photo(session, _upload(client, studio))
    assert photo.status is PhotoStatus.PENDING
    assert visible_photos(session, studio.event) == []

    with pytest.raises(Conflict):
        retry_photo(session, SYSTEM, photo, now=utcnow())
    later = utcnow() + STALE_AFTER + dt.timedelta(seconds=1)
    assert retryable_photos(session, later) == [photo]
    retry_photo(session, SYSTEM, photo, now=later)
    session.commit()

    assert process_photo_job(runtime(app), photo.id) == PhotoStatus.READY
    assert _photo(session, photo.id) in visible_photos(session, studio.event)


def test_running_the_job_twice_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    photo = _photo(session, _upload(client, studio))
    master = decrypt(blobs, photo, MASTER)

    assert process_photo_job(runtime(app), photo.id) is None

    photo = _photo(session, photo.id)
    assert photo.status is PhotoStatus.READY
    assert decrypt(blobs, photo, MASTER) == master


def test_ready_photo_cannot_be_retried(client: FlaskClient, studio: Studio) -> None:
    photo_id = _upload(client, studio)
    response = api_post_json(client, studio.token, f"/api/studio/photos/{photo_id}/retry", {})
    assert response.status_code == 409
    assert response.get_json()["message"] == "Only photos that failed can be retried."


def _blob_path(app: Flask, blobs: EncryptedBlobs, photo: Photo, kind: str) -> Path:
    from app.storage import blob_name

    assert photo.wrapped_key is not None
    name = blob_name(blobs.open_key(photo.wrapped_key), photo.id, kind)
    blob_dir: Path = runtime(app).settings.blob_dir
    return blob_dir / name[:2] / name[2:4] / name


def test_tampered_derivative_is_detected_never_served(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    photo = _photo(session, _upload(client, studio))
    path = _blob_path(app, blobs, photo, PREVIEW)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    # Outside a request, services speak the default language; ask for English here.
    with use_locale("en"), pytest.raises(DamagedPhoto, match="failed its integrity check"):
        read_derivative(blobs, photo, PREVIEW)
    with pytest.raises(BlobIntegrityError):
        blobs.get(photo.id, PREVIEW, photo.wrapped_key)  # type: ignore[arg-type]
    # The other blobs of the photo are unaffected.
    assert read_derivative(blobs, photo, THUMBNAIL).startswith(b"\xff\xd8")


def test_swapped_blob_of_another_photo_is_detected(
    app: Flask, client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    first = _photo(session, _upload(client, studio, seed=1))
    second = _photo(session, _upload(client, studio, seed=2))
    _blob_path(app, blobs, first, THUMBNAIL).write_bytes(
        _blob_path(app, blobs, second, THUMBNAIL).read_bytes()
    )

    with pytest.raises(DamagedPhoto):
        read_derivative(blobs, first, THUMBNAIL)


def test_tampered_original_fails_processing_with_a_clear_reason(
    *,
    app: Flask,
    client: FlaskClient,
    session: Session,
    studio: Studio,
    blobs: EncryptedBlobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("app.studio.web.enqueue_processing", lambda *_a: None)
    photo = _photo(session, _upload(client, studio))
    path = _blob_path(app, blobs, photo, ORIGINAL)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")

    assert process_photo_job(runtime(app), photo.id) == PhotoStatus.FAILED

    photo = _photo(session, photo.id)
    assert photo.failure_code == "storage"
    assert "integrity check" in (photo.failure_reason or "")
    assert photo not in visible_photos(session, studio.event)
