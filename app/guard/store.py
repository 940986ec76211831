"""Where signals live: sorted sets keyed by what they describe, one score per member (the
time it was last seen), trimmed to the retention period on every write.

Redis in production (one pipeline per request for the writes, one for the reads), a
dictionary in the embedded default. When Redis stops answering, :class:`FallbackStore`
keeps the signals in process, logs an alert once per outage, and tries Redis again after a
pause — a request never fails because of the guard's store.

No Flask and no SQLAlchemy here.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

logger = logging.getLogger(__name__)

#: Signals are kept 90 days, then deleted.
RETENTION: Final = dt.timedelta(days=90)
KEY_PREFIX: Final = "photogate:guard:"
#: After a Redis failure, how long the in-process store is used before Redis is tried again.
RETRY_AFTER: Final = 30.0


@dataclass(frozen=True)
class Write:
    """Set ``member``'s time in the set ``key`` (``first``: only if it has none yet)."""

    key: str
    member: str
    at: float
    first: bool = False


@dataclass(frozen=True)
class Read:
    """The members of ``key`` seen at or after ``since``."""

    key: str
    since: float


class SignalStore(Protocol):
    def apply(self, writes: Sequence[Write], *, now: float) -> None: ...

    def read(self, reads: Sequence[Read]) -> list[dict[str, float]]: ...

    def purge(self, *, now: float) -> int: ...

    def exchange(
        self, writes: Sequence[Write], reads: Sequence[Read], *, now: float
    ) -> list[dict[str, float]]: ...


class MemoryStore:
    """Sorted sets in a dictionary: the embedded default and the fallback during outages."""

    def __init__(self) -> None:
        self._sets: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def apply(self, writes: Sequence[Write], *, now: float) -> None:
        horizon = now - RETENTION.total_seconds()
        with self._lock:
            for write in writes:
                members = self._sets.setdefault(write.key, {})
                if write.first and write.member in members:
                    continue
                members[write.member] = write.at
            for write in writes:
                self._trim(write.key, horizon)

    def _trim(self, key: str, horizon: float) -> None:
        members = self._sets.get(key)
        if members is None:
            return
        for member in [m for m, at in members.items() if at < horizon]:
            del members[member]
        if not members:
            del self._sets[key]

    def read(self, reads: Sequence[Read]) -> list[dict[str, float]]:
        with self._lock:
            return [
                {m: at for m, at in self._sets.get(r.key, {}).items() if at >= r.since}
                for r in reads
            ]

    def exchange(
        self, writes: Sequence[Write], reads: Sequence[Read], *, now: float
    ) -> list[dict[str, float]]:
        """Apply ``writes``, then answer ``reads``."""
        self.apply(writes, now=now)
        return self.read(reads)

    def purge(self, *, now: float) -> int:
        """Delete every signal older than the retention period; return how many."""
        horizon = now - RETENTION.total_seconds()
        with self._lock:
            before = sum(len(members) for members in self._sets.values())
            for key in list(self._sets):
                self._trim(key, horizon)
            return before - sum(len(members) for members in self._sets.values())

    def size(self) -> int:
        with self._lock:
            return sum(len(members) for members in self._sets.values())


class RedisStore:
    """The same sorted sets in Redis; every key also expires 90 days after its last write."""

    def __init__(self, client: Any, prefix: str = KEY_PREFIX) -> None:
        self.client = client
        self.prefix = prefix

    def _queue_writes(self, pipe: Any, writes: Sequence[Write], now: float) -> None:
        horizon = now - RETENTION.total_seconds()
        ttl = int(RETENTION.total_seconds())
        for write in writes:
            pipe.zadd(self.prefix + write.key, {write.member: write.at}, nx=write.first)
        for key in {write.key for write in writes}:
            pipe.zremrangebyscore(self.prefix + key, "-inf", f"({horizon}")
            pipe.expire(self.prefix + key, ttl)

    def _queue_reads(self, pipe: Any, reads: Sequence[Read]) -> None:
        for r in reads:
            pipe.zrangebyscore(self.prefix + r.key, r.since, "+inf", withscores=True)

    @staticmethod
    def _decoded(results: Sequence[Any]) -> list[dict[str, float]]:
        return [{_text(member): float(score) for member, score in result} for result in results]

    def apply(self, writes: Sequence[Write], *, now: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        self._queue_writes(pipe, writes, now)
        pipe.execute()

    def read(self, reads: Sequence[Read]) -> list[dict[str, float]]:
        pipe = self.client.pipeline(transaction=False)
        self._queue_reads(pipe, reads)
        return self._decoded(pipe.execute())

    def exchange(
        self, writes: Sequence[Write], reads: Sequence[Read], *, now: float
    ) -> list[dict[str, float]]:
        """The writes, then the reads, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        self._queue_writes(pipe, writes, now)
        self._queue_reads(pipe, reads)
        results = pipe.execute()
        return self._decoded(results[len(results) - len(reads) :])

    def purge(self, *, now: float) -> int:
        horizon = now - RETENTION.total_seconds()
        removed = 0
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            removed += int(self.client.zremrangebyscore(key, "-inf", f"({horizon}"))
        return removed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class FallbackStore:
    """Redis while it answers; the in-process store (and an alert in the log) when not."""

    def __init__(self, primary: RedisStore, *, retry_after: float = RETRY_AFTER) -> None:
        self.primary = primary
        self.fallback = MemoryStore()
        self.retry_after = retry_after
        self._down_since: float | None = None

    @property
    def degraded(self) -> bool:
        return self._down_since is not None

    def _use_primary(self) -> bool:
        down = self._down_since
        return down is None or time.monotonic() - down >= self.retry_after

    def _failed(self, error: Exception) -> None:
        if self._down_since is None:
            logger.error(
                "ALERT guard signal store unreachable, keeping signals in process: %s", error
            )
        self._down_since = time.monotonic()

    def _recovered(self) -> None:
        if self._down_since is not None:
            logger.warning("guard signal store reachable again")
        self._down_since = None

    def apply(self, writes: Sequence[Write], *, now: float) -> None:
        if self._use_primary():
            try:
                self.primary.apply(writes, now=now)
            except Exception as error:  # any Redis failure must not cost the request
                self._failed(error)
            else:
                self._recovered()
                return
        self.fallback.apply(writes, now=now)

    def read(self, reads: Sequence[Read]) -> list[dict[str, float]]:
        local = self.fallback.read(reads)
        if self._use_primary():
            try:
                remote = self.primary.read(reads)
            except Exception as error:  # any Redis failure must not cost the request
                self._failed(error)
            else:
                self._recovered()
                # What was kept in process during an outage still counts.
                return [{**kept, **found} for kept, found in zip(local, remote, strict=True)]
        return local

    def exchange(
        self, writes: Sequence[Write], reads: Sequence[Read], *, now: float
    ) -> list[dict[str, float]]:
        if self._use_primary():
            try:
                remote = self.primary.exchange(writes, reads, now=now)
            except Exception as error:  # any Redis failure must not cost the request
                self._failed(error)
            else:
                self._recovered()
                local = self.fallback.read(reads)
                # What was kept in process during an outage still counts.
                return [{**kept, **found} for kept, found in zip(local, remote, strict=True)]
        return self.fallback.exchange(writes, reads, now=now)

    def purge(self, *, now: float) -> int:
        removed = self.fallback.purge(now=now)
        try:
            removed += self.primary.purge(now=now)
        except Exception as error:  # reported, and the in-process part is still purged
            self._failed(error)
        return removed


def make_store(redis_url: str | None, *, prefix: str = KEY_PREFIX) -> SignalStore:
    """Redis (with the in-process fallback) when a URL is configured, else in process."""
    if not redis_url:
        return MemoryStore()
    from redis import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return FallbackStore(RedisStore(client, prefix))
