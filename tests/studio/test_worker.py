"""The queued path: uploads put jobs on Redis, an RQ worker builds its own application from
the environment and processes them against the committed database.

With ``PHOTOGATE_TEST_REDIS_URL`` the queue is the real Redis; otherwise fakeredis stands in
for it, so the path is exercised in every run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from rq import Queue, SimpleWorker
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from app.config import Settings
from app.db import utcnow
from app.jobs import QUEUE_NAME, JobQueue, forget_worker_runtime
from app.photos.blobs import MASTER
from app.photos.models import Photo, PhotoStatus
from app.studio.services import create_api_token
from app.web.context import runtime
from tests.conftest import TEST_REDIS_URL, create_scratch_database
from tests.factories import make_event, make_staff
from tests.imaging.support import assert_clean_jpeg
from tests.studio.support import api_upload, blob_files, photo_bytes
from tests.support.photos import photo_path


@dataclass
class QueuedStudio:
    app: Flask
    redis: Any
    event_id: int
    token: str

    def session(self) -> Session:
        return runtime(self.app).database.sessionmaker()


def _queue_on(connection: Any) -> JobQueue:
    runner = JobQueue(TEST_REDIS_URL)
    # fakeredis has no URL; the runner is pointed at the in-process double directly.
    runner._redis = connection
    return runner


@pytest.fixture
def queued(tmp_path: Path, redis: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueuedStudio]:
    """An app on a committed scratch database that queues jobs, and the worker's env."""
    scratch = create_scratch_database(tmp_path, "worker")
    var_dir = tmp_path / "var"
    for name, value in {
        "PHOTOGATE_ENV": "test",
        "PHOTOGATE_VAR_DIR": str(var_dir),
        "PHOTOGATE_DATABASE_URL": scratch.url,
    }.items():
        monkeypatch.setenv(name, value)
    if TEST_REDIS_URL:
        monkeypatch.setenv("PHOTOGATE_REDIS_URL", TEST_REDIS_URL)
    else:
        monkeypatch.delenv("PHOTOGATE_REDIS_URL", raising=False)
    app = create_app(
        Settings(env="test", var_dir=var_dir, database_url=scratch.url, redis_url=TEST_REDIS_URL)
    )
    runtime(app).jobs = _queue_on(redis)
    with runtime(app).database.session_scope() as session:
        photographer = make_staff(session)
        event = make_event(session)
        event.photographers.append(photographer)
        token = create_api_token(session, photographer, "laptop", now=utcnow()).token
        event_id = event.id
    try:
        yield QueuedStudio(app=app, redis=redis, event_id=event_id, token=token)
    finally:
        runtime(app).database.engine.dispose()
        # The worker side built its own runtime for this database; let it go too.
        forget_worker_runtime()
        scratch.drop()


def _work(queued: QueuedStudio) -> None:
    worker = SimpleWorker([Queue(QUEUE_NAME, connection=queued.redis)], connection=queued.redis)
    assert worker.work(burst=True)


def _upload(queued: QueuedStudio, data: bytes, name: str = "a.jpg") -> dict[str, Any]:
    response = api_upload(queued.app.test_client(), queued.token, queued.event_id, data, name)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_upload_is_queued_and_a_worker_makes_it_ready(queued: QueuedStudio) -> None:
    body = _upload(queued, photo_bytes(seed=1))

    # Nothing is processed in the request: the photo waits for a worker.
    assert body["photo"]["status"] == "pending"
    assert Queue(QUEUE_NAME, connection=queued.redis).count == 1

    _work(queued)

    with queued.session() as session:
        photo = session.get(Photo, body["photo"]["id"])
        assert photo is not None
        assert photo.status is PhotoStatus.READY
        master = runtime(queued.app).blobs.get(photo.id, MASTER, photo.wrapped_key)  # type: ignore[arg-type]
    assert_clean_jpeg(master)
    assert Queue(QUEUE_NAME, connection=queued.redis).count == 0


def test_worker_fails_an_undecodable_photo_and_carries_on(queued: QueuedStudio) -> None:
    broken = _upload(queued, photo_path("pil_truncated_jpeg.jpg").read_bytes(), "cut.jpg")
    good = _upload(queued, photo_bytes(seed=2))

    _work(queued)

    with queued.session() as session:
        failed = session.get(Photo, broken["photo"]["id"])
        ready = session.get(Photo, good["photo"]["id"])
        assert failed is not None
        assert ready is not None
        assert failed.status is PhotoStatus.FAILED
        assert failed.failure_code == "truncated"
        assert ready.status is PhotoStatus.READY


def test_retry_through_the_queue(queued: QueuedStudio, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.storage import EncryptedBlobs

    real_put = EncryptedBlobs.put

    def broken_put(self: EncryptedBlobs, photo_id: Any, kind: str, *rest: Any) -> None:
        if kind == MASTER:
            raise OSError("disk full")
        real_put(self, photo_id, kind, *rest)

    body = _upload(queued, photo_bytes(seed=3))
    monkeypatch.setattr(EncryptedBlobs, "put", broken_put)
    _work(queued)
    monkeypatch.setattr(EncryptedBlobs, "put", real_put)
    client = queued.app.test_client()
    retry = client.post(
        f"/api/studio/photos/{body['photo']['id']}/retry",
        headers={"Authorization": f"Bearer {queued.token}"},
    )
    assert retry.status_code == 202
    assert retry.get_json()["status"] == "pending"

    _work(queued)

    with queued.session() as session:
        photo = session.scalar(select(Photo).where(Photo.id == body["photo"]["id"]))
        assert photo is not None
        assert photo.status is PhotoStatus.READY


def test_nothing_is_queued_or_stored_for_a_refused_file(queued: QueuedStudio) -> None:
    response = api_upload(
        queued.app.test_client(), queued.token, queued.event_id, io.BytesIO(b"<svg/>").read()
    )
    assert response.status_code == 422
    assert Queue(QUEUE_NAME, connection=queued.redis).count == 0
    assert blob_files(runtime(queued.app).settings.blob_dir) == []


def test_a_bomb_that_reached_the_queue_fails_and_the_worker_carries_on(
    queued: QueuedStudio,
) -> None:
    """The job checks the pixel count again: a file that slipped past the request's checks
    (written by an older release, or by hand) fails instead of exhausting the worker."""
    from app.photos.blobs import ORIGINAL
    from app.photos.jobs import enqueue_processing
    from tests.imaging.support import png_bytes

    bomb = png_bytes(50_000, 50_000)
    blobs = runtime(queued.app).blobs
    with runtime(queued.app).database.session_scope() as session:
        key = blobs.new_data_key()
        photo = Photo(
            event_id=queued.event_id,
            status=PhotoStatus.PENDING,
            original_sha256="b" * 64,
            byte_size=len(bomb),
            wrapped_key=key.wrapped,
        )
        session.add(photo)
        session.flush()
        blobs.put(photo.id, ORIGINAL, bomb, key)
        bomb_id = photo.id
    enqueue_processing(runtime(queued.app), [bomb_id])
    good = _upload(queued, photo_bytes(seed=9))

    _work(queued)

    with queued.session() as session:
        failed = session.get(Photo, bomb_id)
        ready = session.get(Photo, good["photo"]["id"])
        assert failed is not None
        assert ready is not None
        assert failed.status is PhotoStatus.FAILED
        assert failed.failure_code == "too_many_pixels"
        assert ready.status is PhotoStatus.READY
