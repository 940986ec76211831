"""The application's notion of "now", replaceable so tests can move time instead of sleeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask, current_app

from app.db import utcnow

_KEY = "photogate.clock"


def install_clock(app: Flask, clock: Callable[[], dt.datetime] = utcnow) -> None:
    """Make ``clock`` the source of the current time for ``app`` (tests pass their own)."""
    app.extensions[_KEY] = clock


def now() -> dt.datetime:
    """The current time of the running application, timezone-aware UTC."""
    clock: Callable[[], dt.datetime] = current_app.extensions.get(_KEY, utcnow)
    return clock()
