"""The photo-processing job, as RQ runs it in a worker and as the embedded default runs it.

Inline (no Redis), the job runs inside the request that queued it and uses that request's
application.  In an RQ worker there may be no application at all (``rq worker``,
SimpleWorker, the benchmark), so the job builds one from :meth:`Settings.from_env` once per
process; in ``photogate worker`` it inherits the command's application across the fork,
and its connection pool is replaced so parent and child never share a socket.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from flask import Flask, current_app, has_app_context

from app.clock import now
from app.config import Settings
from app.db import Database, get_database
from app.gallery.models import PhotoStatus
from app.jobs import JobRunner
from app.storage import EncryptedBlobs
from app.studio.services.processing import process_photo, render_photo
from app.studio.storage import UploadLimits, make_blobs, upload_limits

logger = logging.getLogger(__name__)

_BLOBS_KEY = "photogate.studio.blobs"
_worker_apps: dict[tuple[int, str], Flask] = {}
_fresh_pools: set[tuple[int, int]] = set()


def app_blobs(app: Flask) -> EncryptedBlobs:
    """The application's encrypted photo store (made once per application)."""
    blobs: EncryptedBlobs | None = app.extensions.get(_BLOBS_KEY)
    if blobs is None:
        settings: Settings = app.extensions["photogate.settings"]
        blobs = make_blobs(settings, app.extensions["photogate.secrets"].kek)
        app.extensions[_BLOBS_KEY] = blobs
    return blobs


def app_limits(app: Flask) -> UploadLimits:
    settings: Settings = app.extensions["photogate.settings"]
    return upload_limits(settings)


def _worker_app() -> Flask:
    from app import create_app

    settings = Settings.from_env()
    # Keyed by process and settings: a forked child must not reuse its parent's engine,
    # and tests run workers against different databases in one process.
    key = (os.getpid(), repr(settings))
    app = _worker_apps.get(key)
    if app is None:
        app = create_app(settings)
        _worker_apps[key] = app
    return app


def _own_pool(database: Database) -> None:
    # SQLAlchemy's advice for forked processes: drop the inherited pool without closing
    # the parent's connections, and open new ones here.
    marker = (os.getpid(), id(database.engine))
    if marker not in _fresh_pools:
        database.engine.dispose(close=False)
        _fresh_pools.add(marker)


def run_processing(app: Flask, photo_id: int) -> PhotoStatus | None:
    """Process one photo with ``app``'s database, blobs and limits."""
    with app.app_context():
        return process_photo(
            get_database(app).session_scope, app_blobs(app), photo_id, app_limits(app), now
        )


def process_photo_job(photo_id: int) -> str | None:
    """The job function RQ imports by name; returns the photo's new status."""
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        runner: JobRunner = app.extensions["photogate.jobs"]
        if not runner.is_inline:
            # A queued job running inside an application: a child forked by
            # `photogate worker`, which must not use the parent's pooled connections.
            _own_pool(get_database(app))
    else:
        app = _worker_app()
    status = run_processing(app, photo_id)
    return status.value if status is not None else None


def warm_up() -> None:
    """Run the pipeline once on a tiny picture, so that forked job processes start warm.

    RQ forks a fresh process per job from the worker; whatever the first photo of a
    process initialises (Pillow's plugin registry, colour profiles, the hashing code) is
    then paid once in the worker instead of once per photo.
    """
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(buffer, "JPEG")
    render_photo(buffer.getvalue(), UploadLimits())


def enqueue_processing(app: Flask, photo_ids: Iterable[int]) -> None:
    """Queue (or, inline, run) processing; call after the photos are committed.

    A queue that cannot be reached leaves the photos pending: they become retryable once
    stale, so nothing accepted is lost.
    """
    runner: JobRunner = app.extensions["photogate.jobs"]
    for photo_id in photo_ids:
        try:
            runner.enqueue(process_photo_job, photo_id)
        except Exception:
            logger.exception("queueing photo %s failed; it stays pending", photo_id)
