"""Background jobs: Redis + RQ in production, inline in the embedded default."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis import Redis

logger = logging.getLogger(__name__)

QUEUE_NAME = "photogate"


class JobRunner:
    """Runs a job now (no Redis configured) or puts it on the RQ queue."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self._redis: Redis | None = Redis.from_url(redis_url) if redis_url else None

    @property
    def is_inline(self) -> bool:
        return self._redis is None

    def enqueue(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
        """Run ``func`` inline, or enqueue it and return the job id."""
        if self._redis is None:
            func(*args, **kwargs)
            return None
        from rq import Queue  # imported lazily: the embedded default never needs it

        job = Queue(QUEUE_NAME, connection=self._redis).enqueue(func, *args, **kwargs)
        logger.info("enqueued %s as job %s", getattr(func, "__name__", func), job.id)
        return str(job.id)
