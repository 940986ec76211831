"""The photo-processing job, and queueing it after the photos it needs are committed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

from app.jobs import QueueUnavailable
from app.photos.limits import UploadLimits
from app.photos.processing import process_photo, render_photo
from app.runtime import Runtime

logger = logging.getLogger(__name__)


def photo_job_id(photo_id: int) -> str:
    """The one RQ job id of a photo's processing (so it is never queued twice)."""
    return f"photo-{photo_id}"


def process_photo_job(runtime: Runtime, photo_id: int) -> str | None:
    """The job: process one pending photo; returns its new status."""
    status = process_photo(
        runtime.database.session_scope, runtime.blobs, photo_id, runtime.limits, runtime.now
    )
    return status.value if status is not None else None


def enqueue_processing(runtime: Runtime, photo_ids: Iterable[int]) -> int:
    """Queue (or, inline, run) processing; call after the photos are committed.

    Returns how many were queued.  A queue that cannot be reached leaves the photos
    pending: the photo row, not the queue, is the truth, and the reaper
    (:mod:`app.photos.reaper`) queues them again.
    """
    queued = 0
    for photo_id in photo_ids:
        try:
            runtime.enqueue(process_photo_job, photo_id, job_id=photo_job_id(photo_id))
        except QueueUnavailable as error:
            logger.warning("queueing photo %s failed (%s); it stays pending", photo_id, error)
            continue
        queued += 1
    return queued


def warm_up() -> None:
    """Run the pipeline once on a tiny picture, so that forked job processes start warm.

    RQ forks a fresh process per job from the worker; whatever the first photo of a
    process initialises (Pillow's plugin registry, colour profiles, the hashing code) is
    then paid once in the worker instead of once per photo.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 200)).save(buffer, "JPEG")
    render_photo(buffer.getvalue(), UploadLimits())
