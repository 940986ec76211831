"""The photo row, not the queue, is the truth: every pending photo ends ready or failed.

A job can be lost in many ways — Redis down when the photo was accepted (or restarted
empty), the worker or its work horse killed, the database gone while the job ran (the job
fails). The reaper looks at every photo that has been pending for longer than a short grace
and at the state RQ holds for its job (``photo-<id>``): a job that is queued or running is
left alone; anything else — no job, failed, stopped, or abandoned by a dead worker (RQ's
own registry cleanup tells) — is queued again. It runs when a worker starts, between its
jobs every minute, and from ``photogate studio retry``. Processing twice is harmless: the
job claims only a pending photo and finishes it with a conditional update.

Without Redis (the embedded default) there is no queue to lose a job in; a photo left
pending by a process that died mid-way is processed then and there.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Final

from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from app.jobs import LIVE_STATUSES, QueueUnavailable
from app.photos.jobs import photo_job_id, process_photo_job
from app.photos.models import Photo, PhotoStatus
from app.runtime import Runtime

logger = logging.getLogger(__name__)

#: A photo queued this recently may still be on its way into the queue (the request commits
#: first, then enqueues): not touched yet.
GRACE: Final = dt.timedelta(seconds=10)
#: Photos looked at per run (the rest wait for the next run).
BATCH: Final = 500


@dataclass
class ReapReport:
    """What one run found and did."""

    requeued: list[int] = field(default_factory=list)
    live: int = 0
    unqueueable: int = 0


def _stuck(runtime: Runtime, before: dt.datetime) -> list[int]:
    queued = func.coalesce(Photo.queued_at, Photo.created_at)
    with runtime.database.session_scope(write=False) as session:
        return list(
            session.scalars(
                select(Photo.id)
                .where(Photo.status == PhotoStatus.PENDING, queued < before)
                .order_by(Photo.id)
                .limit(BATCH)
            )
        )


def _clean_rq_registries(runtime: Runtime) -> None:
    """Let RQ move jobs whose worker died from "started" to "failed"."""
    redis = runtime.jobs.redis
    if redis is None:
        return
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from app.jobs import QUEUE_NAME

    StartedJobRegistry(queue=Queue(QUEUE_NAME, connection=redis)).cleanup()


def reap(runtime: Runtime, *, grace: dt.timedelta = GRACE) -> ReapReport:
    """Queue again every photo pending for longer than ``grace`` whose job is not live."""
    report = ReapReport()
    now = runtime.now()
    if runtime.jobs.is_inline:
        for photo_id in _stuck(runtime, now - grace):
            process_photo_job(runtime, photo_id)
            report.requeued.append(photo_id)
        return report
    try:
        _clean_rq_registries(runtime)
        for photo_id in _stuck(runtime, now - grace):
            if runtime.jobs.job_status(photo_job_id(photo_id)) in LIVE_STATUSES:
                report.live += 1
                continue
            with runtime.database.session_scope() as session:
                session.execute(
                    update(Photo)
                    .where(Photo.id == photo_id, Photo.status == PhotoStatus.PENDING)
                    .values(queued_at=now)
                )
            runtime.enqueue(process_photo_job, photo_id, job_id=photo_job_id(photo_id))
            report.requeued.append(photo_id)
    except (QueueUnavailable, RedisError, OSError) as error:
        # Redis is still away: the photos stay pending for the next run.
        logger.warning("reaper: the queue is unavailable (%s)", error)
        report.unqueueable += 1
    if report.requeued:
        logger.info("reaper: %d pending photos queued again", len(report.requeued))
    return report
