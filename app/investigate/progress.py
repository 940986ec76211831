"""Which step a running search is in, for the investigator's page to show.

The search runs inside the upload request (seconds). The page names a random key in the
form it posts, and while it waits it asks ``/investigate/progress/<key>`` which step the
search has reached. Steps are kept for a few minutes, in Redis when the portal has it (the
poll may reach another worker process) and in process otherwise, and only for the staff
member who started the search. Progress is a courtesy: if Redis fails, the search goes on
and the page just shows less.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Final

from flask import Flask, current_app

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

BOARD_KEY: Final = "photogate.investigate_progress"
#: The steps of a search, in order (``done`` once the verdict is kept).
STEPS: Final = ("blind", "index", "candidates", "informed", "done")
KEEP_SECONDS: Final = 300
KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")


def valid_key(raw: str | None) -> str | None:
    """The key a form sent, if it is one the page could have made."""
    return raw if raw is not None and KEY_PATTERN.fullmatch(raw) else None


class ProgressBoard:
    """Steps of running searches by (staff member, key), kept a few minutes."""

    def __init__(self, redis: Redis | None, *, prefix: str = "photogate:investigate:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._local: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _name(self, owner: int | None, key: str) -> str:
        return f"{self._prefix}{owner or 0}:{key}"

    def set(self, owner: int | None, key: str, step: str) -> None:
        name = self._name(owner, key)
        if self._redis is not None:
            try:
                self._redis.set(name, step, ex=KEEP_SECONDS)
                return
            except Exception as error:  # progress must never cost the search
                logger.warning("search progress not kept in Redis: %s", error)
        now = time.monotonic()
        with self._lock:
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
            self._local[name] = (now + KEEP_SECONDS, step)

    def get(self, owner: int | None, key: str) -> str | None:
        name = self._name(owner, key)
        if self._redis is not None:
            try:
                value = self._redis.get(name)
            except Exception as error:
                logger.warning("search progress not read from Redis: %s", error)
            else:
                if value is not None:
                    return value.decode() if isinstance(value, bytes) else str(value)
        with self._lock:
            kept = self._local.get(name)
        return kept[1] if kept is not None and kept[0] > time.monotonic() else None


def init_progress(app: Flask, redis_url: str | None) -> None:
    """Give ``app`` its board: Redis when configured (short timeouts), else in process."""
    client = None
    if redis_url:
        from redis import Redis

        client = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    app.extensions[BOARD_KEY] = ProgressBoard(client)


def progress_board() -> ProgressBoard:
    board: ProgressBoard = current_app.extensions[BOARD_KEY]
    return board
