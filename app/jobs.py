"""Background jobs: Redis + RQ in production, inline in the embedded default.

A job is a plain function ``job(runtime, *args)`` importable by name.  Inline, it runs at
once with the caller's runtime; queued, RQ runs :func:`run_job` in a worker process, which
builds the runtime of that process once (from the environment, or the one the
``photogate worker`` command registered before forking) and calls the job with it.  No
Flask is involved either way.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis import Redis

if TYPE_CHECKING:
    from app.runtime import Runtime

logger = logging.getLogger(__name__)

QUEUE_NAME = "photogate"
#: How long a job may run before RQ stops it (the reaper then queues it again).
JOB_TIMEOUT = 600
#: Job states in which the work is still going to happen.
LIVE_STATUSES = frozenset({"queued", "started", "deferred", "scheduled"})

Job = Callable[..., Any]

_worker_runtime: dict[int, Runtime] = {}


class QueueUnavailable(RuntimeError):
    """Redis could not take the job; the work stays recorded for the reaper."""


def job_name(func: Job) -> str:
    """``module:function`` of a job, the name RQ stores."""
    return f"{func.__module__}:{func.__qualname__}"


def _resolve(name: str) -> Job:
    module, _, attribute = name.partition(":")
    func: Job = getattr(importlib.import_module(module), attribute)
    return func


class JobQueue:
    """Runs a job now (no Redis configured) or puts it on the RQ queue."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis: Redis | None = (
            Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
            if redis_url
            else None
        )

    @property
    def is_inline(self) -> bool:
        return self._redis is None

    @property
    def redis(self) -> Redis | None:
        return self._redis

    def enqueue(
        self, runtime: Runtime, func: Job, *args: Any, job_id: str | None = None
    ) -> str | None:
        """Run ``func(runtime, *args)`` inline, or queue it and return the RQ job id.

        Raises :class:`QueueUnavailable` when Redis refuses: the caller has already
        committed what the job needs, so nothing is lost and the reaper queues it later.
        """
        if self._redis is None:
            func(runtime, *args)
            return None
        from redis.exceptions import RedisError
        from rq import Queue  # imported lazily: the embedded default never needs it

        try:
            if job_id is not None and self._drop_finished_job(job_id):
                # The same work is already waiting or running: never twice.
                return job_id
            job = Queue(QUEUE_NAME, connection=self._redis).enqueue(
                run_job,
                job_name(func),
                *args,
                job_id=job_id,
                job_timeout=JOB_TIMEOUT,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
        except (RedisError, OSError) as error:
            raise QueueUnavailable(str(error)) from None
        logger.info("queued %s%r as job %s", job_name(func), args, job.id)
        return str(job.id)

    def _fetch(self, job_id: str) -> tuple[Any, str | None]:
        """The job and its status ("abandoned" for a started job whose worker is dead),
        or (None, None) when Redis has no such job."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self._redis)
        except NoSuchJobError:
            return None, None
        status = job.get_status(refresh=False)
        if status == "started" and self._worker_is_gone(job.worker_name):
            return job, "abandoned"
        return job, str(status.value) if status is not None else None

    def _drop_finished_job(self, job_id: str) -> bool:
        """True if a job of this id is live (queued, running, waiting); otherwise delete
        whatever is left of it (failed, stopped, abandoned, finished) so it can be queued
        afresh and RQ's failed registry does not fill up."""
        job, status = self._fetch(job_id)
        if job is None:
            return False
        if status in LIVE_STATUSES:
            return True
        job.delete()
        return False

    def job_status(self, job_id: str) -> str | None:
        """The RQ status of a job ("queued", "failed", …; "abandoned" for a started job
        whose worker is dead), or None if Redis has none."""
        if self._redis is None:
            return None
        from redis.exceptions import RedisError

        try:
            return self._fetch(job_id)[1]
        except (RedisError, OSError) as error:
            raise QueueUnavailable(str(error)) from None

    def _worker_is_gone(self, name: str | None) -> bool:
        """Whether the worker running a started job is certainly dead: its key expired, or
        it ran on this machine and its process is gone (a SIGKILL leaves the key behind
        until it expires, long after the work stopped)."""
        from rq import Worker

        if not name or self._redis is None:
            return True
        worker = Worker.find_by_key(
            Worker.redis_worker_namespace_prefix + name, connection=self._redis
        )
        if worker is None:
            return True
        if worker.hostname == socket.gethostname() and worker.pid:
            try:
                os.kill(worker.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False


def register_worker_runtime(runtime: Runtime) -> None:
    """Let jobs in this process (and the children RQ forks from it) use ``runtime``."""
    _worker_runtime.clear()
    _worker_runtime[os.getpid()] = runtime


def worker_runtime() -> Runtime:
    """The runtime of this worker process: inherited from the parent, or built once."""
    pid = os.getpid()
    runtime = _worker_runtime.get(pid)
    if runtime is not None:
        return runtime
    inherited = next(iter(_worker_runtime.values()), None)
    if inherited is not None:
        # A child forked by the worker: SQLAlchemy's advice is to drop the inherited pool
        # without closing the parent's connections, and open new ones here.
        inherited.database.engine.dispose(close=False)
        runtime = inherited
    else:
        from app.config import Settings
        from app.runtime import build_runtime

        runtime = build_runtime(Settings.from_env())
    _worker_runtime.clear()
    _worker_runtime[pid] = runtime
    return runtime


def run_job(name: str, *args: Any) -> Any:
    """What RQ runs: the named job with this process's runtime."""
    return _resolve(name)(worker_runtime(), *args)


def forget_worker_runtime() -> None:
    """Drop this process's worker runtime (its connections closed); the next job builds anew."""
    for runtime in _worker_runtime.values():
        runtime.database.engine.dispose()
    _worker_runtime.clear()
