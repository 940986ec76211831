"""Errors raised by services: plain exceptions with a message safe to show and a status.

Nothing here knows about Flask; :mod:`app.web.errors` turns each into a page or JSON with
the right 4xx (or 503), never a stack trace.
"""

from __future__ import annotations

import math

from app.i18n import lazy_gettext as _l


class AppError(Exception):
    """Base of the errors services raise; ``message`` is safe to show to the user."""

    status_code = 400

    def __init__(self, message: object | None = None, *, retry_after: int | None = None) -> None:
        text = str(message) if message is not None else None
        super().__init__(text or "")
        self.message = text or None
        #: Seconds the client should wait before trying again, when that is the point.
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` on a lockout or an outage)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class Invalid(AppError):
    status_code = 400


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class TooManyRequests(AppError):
    """Slow down: ``retry_after`` seconds, which the message and the header both state."""

    status_code = 429

    def __init__(self, retry_after: int, message: object | None = None) -> None:
        seconds = max(1, int(retry_after))
        minutes = max(1, math.ceil(seconds / 60))
        super().__init__(
            message
            if message is not None
            else _l(
                "Too many attempts. Please wait %(minutes)d minute(s) and try again.",
                minutes=minutes,
            ),
            retry_after=seconds,
        )


class Unavailable(AppError):
    """A dependency (database, Redis, blob storage) is down; the client may try again."""

    status_code = 503

    def __init__(self, message: object | None = None, *, retry_after: int = 30) -> None:
        super().__init__(message, retry_after=retry_after)
