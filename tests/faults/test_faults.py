"""Faults against real services: every accepted photo ends ready, nothing half-made, no 500.

A private redis-server the test kills and starts again, ``photogate worker`` processes it
SIGKILLs (the work horse alone, or the whole worker), and — on PostgreSQL — a proxy that
cuts the database off the way a restart does. The web app is the real one; the worker is
the real command in its own process group.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.config import Settings
from app.db import utcnow
from app.photos.blobs import sweep_abandoned_writes
from app.photos.models import Photo, PhotoStatus
from app.studio.services import create_api_token
from app.web.context import runtime
from tests.conftest import TEST_DATABASE_URL, create_scratch_database
from tests.factories import make_event, make_staff
from tests.studio.support import blob_files
from tests.support.services import CuttableProxy, PrivateRedis, WorkerProcess

#: Long enough that a job is caught running, short enough for a test.
PHOTO_SIZE = (2400, 1600)
SETTLE_SECONDS = 120


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    width, height = PHOTO_SIZE
    base = np.linspace(30, 220, width)[None, :, None] + rng.normal(0, 30, (height, width, 3))
    out = io.BytesIO()
    Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class Stack:
    """An app, its committed database (maybe behind a proxy), a private Redis, a worker."""

    app: Flask
    redis: PrivateRedis
    worker: WorkerProcess
    proxy: CuttableProxy | None
    event_id: int
    token: str
    env: dict[str, str]

    def upload(self, seed: int, name: str | None = None) -> Any:
        return self.app.test_client().post(
            f"/api/studio/events/{self.event_id}/photos",
            data={"file": (io.BytesIO(photo(seed)), name or f"p{seed}.jpg")},
            headers={"Authorization": f"Bearer {self.token}"},
            content_type="multipart/form-data",
        )

    def statuses(self) -> dict[int, PhotoStatus]:
        with runtime(self.app).database.session_scope(write=False) as session:
            return {row.id: row.status for row in session.execute(select(Photo.id, Photo.status))}

    def settle(self, expected: int, *, timeout: float = SETTLE_SECONDS) -> dict[int, PhotoStatus]:
        """Wait until ``expected`` photos exist and none is pending any more."""
        deadline = time.monotonic() + timeout
        statuses = self.statuses()
        while time.monotonic() < deadline:
            statuses = self.statuses()
            if len(statuses) >= expected and PhotoStatus.PENDING not in statuses.values():
                return statuses
            time.sleep(0.5)
        return statuses


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    scratch = create_scratch_database(tmp_path, "faults")
    url = scratch.url
    proxy = None
    if TEST_DATABASE_URL is not None:
        parsed = make_url(url)
        proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        url = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    redis = PrivateRedis(tmp_path)
    redis.start()
    var_dir = tmp_path / "var"
    settings = Settings(env="test", var_dir=var_dir, database_url=url, redis_url=redis.url)
    app = create_app(settings)
    with runtime(app).database.session_scope() as session:
        photographer = make_staff(session)
        event = make_event(session)
        event.photographers.append(photographer)
        token = create_api_token(session, photographer, "tool", now=utcnow()).token
        event_id = event.id
    env = {
        "PHOTOGATE_ENV": "test",
        "PHOTOGATE_VAR_DIR": str(var_dir),
        "PHOTOGATE_DATABASE_URL": url,
        "PHOTOGATE_REDIS_URL": redis.url,
        "OMP_NUM_THREADS": "1",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        yield Stack(app, redis, worker, proxy, event_id, token, env)
    finally:
        worker.kill()
        redis.stop()
        runtime(app).database.engine.dispose()
        if proxy is not None:
            proxy.close()
        scratch.drop()


def _assert_all_ready(stack: Stack, statuses: dict[int, PhotoStatus], expected: int) -> None:
    assert len(statuses) == expected
    assert set(statuses.values()) == {PhotoStatus.READY}, (statuses, stack.worker.output()[-3000:])
    # Nothing half-made: every ready photo has its four blobs, no stray temporary file.
    blobs = runtime(stack.app).blobs
    with runtime(stack.app).database.session_scope(write=False) as session:
        for photo_row in session.scalars(select(Photo)):
            for kind in ("original", "master", "preview", "thumbnail"):
                assert blobs.exists(photo_row.id, kind, photo_row.wrapped_key or b"")
    # A write killed in the middle leaves its temporary file (a name no blob has, so it is
    # never read); the sweep of housekeeping and of every worker start removes it once an
    # hour has passed without anyone touching it.
    blob_dir = runtime(stack.app).settings.blob_dir
    stray = [p for p in blob_files(blob_dir) if p.name.startswith(".")]
    for path in stray:
        hours_ago = time.time() - 2 * 3600
        os.utime(path, (hours_ago, hours_ago))
    # (The worker's own housekeeping may sweep them first: either way they go.)
    assert sweep_abandoned_writes(runtime(stack.app).blobs) <= len(stray)
    assert [p for p in blob_files(blob_dir) if p.name.startswith(".")] == []


def test_killed_work_horses_lose_no_photo(stack: Stack) -> None:
    stack.worker.start()
    for seed in range(6):
        assert stack.upload(seed).status_code == 201
    # Two jobs die with SIGKILL in the middle of their work.
    assert stack.worker.kill_horse()
    time.sleep(0.5)
    assert stack.worker.kill_horse()
    _assert_all_ready(stack, stack.settle(6), 6)


def test_a_killed_worker_loses_no_photo(stack: Stack) -> None:
    stack.worker.start()
    for seed in range(5):
        assert stack.upload(seed).status_code == 201
    # The whole worker goes, with the job it was running; a new one starts later.
    deadline = time.monotonic() + 30
    while not stack.worker.children() and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.worker.kill()
    time.sleep(1)
    stack.worker.start()
    _assert_all_ready(stack, stack.settle(5), 5)


def test_redis_outage_during_uploads_loses_no_photo(stack: Stack) -> None:
    stack.worker.start()
    assert stack.upload(1).status_code == 201
    stack.worker.wait_until_listening()
    stack.redis.stop()
    # Uploads go on: the original is stored and the photo waits, never a 500.
    during = [stack.upload(seed) for seed in range(2, 6)]
    assert [response.status_code for response in during] == [201] * 4
    assert all(r.get_json()["photo"]["status"] == "pending" for r in during)
    time.sleep(2)
    stack.redis.start()  # empty: every queued job is gone with it
    _assert_all_ready(stack, stack.settle(5), 5)


def test_an_unreachable_database_is_a_503_with_retry_after(tmp_path: Path) -> None:
    """Any dependency outage is a 503 that says to come back, for pages and the API."""
    from tests.support.services import free_port

    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    app = create_app(Settings(env="test", var_dir=tmp_path / "var", database_url=dead))
    client = app.test_client()
    api = client.get("/api/studio/events", headers={"Authorization": "Bearer pgs_x"})
    assert api.status_code == 503
    assert api.is_json
    assert int(api.headers["Retry-After"]) > 0
    client.set_cookie("photogate-sid", "x" * 43)
    page = client.get("/studio/")
    assert page.status_code == 503
    assert int(page.headers["Retry-After"]) > 0
    assert "Traceback" not in page.get_data(as_text=True)


def test_abandoned_temporary_blob_files_are_swept(stack: Stack) -> None:
    import os

    blob_dir = runtime(stack.app).settings.blob_dir
    shelf = blob_dir / "ab" / "cd"
    shelf.mkdir(parents=True)
    old, fresh = shelf / ".tmp-old", shelf / ".tmp-fresh"
    old.write_bytes(b"half a blob")
    fresh.write_bytes(b"a write in progress")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    stack.worker.start()  # a worker sweeps when it starts
    deadline = time.monotonic() + 60
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not old.exists()
    assert fresh.exists()


# -- PostgreSQL restarts (the proxy cuts every connection and refuses new ones) ---------


@pytest.mark.postgres
def test_a_database_restart_answers_503_and_loses_no_photo(stack: Stack, tmp_path: Path) -> None:
    from app.studio.client import StudioClient, upload_directory

    assert stack.proxy is not None
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(8):
        (folder / f"p{seed}.jpg").write_bytes(photo(seed))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, stack.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stack.worker.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        client = StudioClient(base, stack.token, backoff=0.5)
        outcome: dict[str, Any] = {}

        def run() -> None:
            outcome["report"] = upload_directory(client, stack.event_id, folder, jobs=2)

        uploader = threading.Thread(target=run)
        uploader.start()
        time.sleep(1.0)
        stack.proxy.cut()  # PostgreSQL restarts ...
        refused = stack.app.test_client().get(
            f"/api/studio/events/{stack.event_id}",
            headers={"Authorization": f"Bearer {stack.token}"},
        )
        time.sleep(6)
        stack.proxy.mend()  # ... and is back.
        uploader.join(timeout=300)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    report = outcome["report"]
    assert report.ok, report.summary()
    _assert_all_ready(stack, stack.settle(8), 8)
    with runtime(stack.app).database.session_scope(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Photo)) == 8
