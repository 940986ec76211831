"""The RQ worker of ``photogate worker``: RQ's own, plus the reaper and the housekeeping
(:mod:`app.housekeeping`) between jobs."""

from __future__ import annotations

import logging
from typing import Any

from rq import Worker

from app.housekeeping import tidy
from app.jobs import worker_runtime
from app.photos.blobs import sweep_abandoned_writes
from app.photos.reaper import reap

logger = logging.getLogger(__name__)


class PhotoWorker(Worker):
    """Runs jobs in forked work horses; between jobs, at most every ``reap_every`` seconds
    (and once at start), it queues again the photos whose job was lost."""

    def __init__(self, *args: Any, reap_every: int = 60, **kwargs: Any) -> None:
        # RQ runs its maintenance between jobs and when its blocking wait for a job times
        # out; a wait no longer than the interval keeps an idle worker reaping on time.
        kwargs.setdefault("maintenance_interval", reap_every)
        kwargs.setdefault("worker_ttl", reap_every + 15)
        super().__init__(*args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        sweep_abandoned_writes(worker_runtime().blobs)
        return bool(super().work(*args, **kwargs))

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        try:
            reap(worker_runtime())
        except Exception:
            # The worker keeps working whatever the reaper met; the next run tries again.
            logger.exception("reaper run failed")
        tidy(worker_runtime())
