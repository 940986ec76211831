"""Every error becomes a page (or JSON for API clients) with a clear message and the right
status — never a stack trace.  Service errors (:mod:`app.errors`), HTTP errors, CSRF
failures, and outages of the database, Redis or blob storage (503 with ``Retry-After``)
all come through here; anything unexpected is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.errors import AppError, TooManyRequests
from app.extensions import limiter
from app.i18n import lazy_gettext as _l

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait after an outage answer.
OUTAGE_RETRY_AFTER = 30

TITLES: dict[int, Any] = {
    400: _l("This request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This conflicts with something that already exists"),
    410: _l("This link is no longer valid"),
    413: _l("The upload is too large"),
    415: _l("This kind of content is not accepted here"),
    422: _l("This could not be used"),
    429: _l("Too many requests"),
    500: _l("Something went wrong on our side"),
    503: _l("The service is briefly unavailable"),
}

HINTS: dict[int, Any] = {
    400: _l("Please go back, check what you entered and try again."),
    401: _l("Sign in and try again."),
    403: _l("If you think you should have access, ask your school."),
    404: _l("The address may be mistyped, or the page is not available to your account."),
    405: _l("Please go back and use the buttons on the page."),
    409: _l("Reload the page to see the current state."),
    410: _l("Ask for a new link and try again."),
    413: _l("Please choose a smaller file."),
    415: _l("Please go back and use the form on the page."),
    422: _l("Please check the file and try again."),
    429: _l("Please wait a moment before trying again."),
    500: _l("The error has been logged. Please try again later."),
    503: _l("Nothing you sent was lost. Please try again in a minute."),
}


def wants_json() -> bool:
    """API paths, and clients that ask for JSON rather than HTML, get JSON errors."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def error_response(
    status: int, message: object | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The error page (or JSON) for ``status``, with a specific message when given."""
    fallback = 400 if status < 500 else 500
    title = TITLES.get(status, TITLES[fallback])
    hint = str(message) if message else str(HINTS.get(status, HINTS[fallback]))
    if request_ctx.url_adapter is None:
        # No URL can be built (a Host header we do not answer): plain text, no template.
        response = Response(f"{status} {title}\n{hint}\n", mimetype="text/plain")
    elif wants_json():
        response = jsonify(error=str(title), message=hint, status=status)
    else:
        html = render_template("errors/error.html", status=status, title=title, hint=hint)
        response = Response(html, mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    # An error page may carry a CSRF token or a family's data; never keep it in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_outage(error: BaseException) -> bool:
    """A database that cannot be reached (as opposed to a bad statement)."""
    if isinstance(error, OperationalError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _is_redis_outage(error: BaseException) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(error, RedisConnectionError | RedisTimeout)


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; called by the application factory."""

    @app.errorhandler(AppError)
    def _app_error(error: AppError) -> Response:
        return error_response(error.status_code, error.message, error.headers)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error: CSRFError) -> Response:
        logger.info("CSRF check failed on %s %s", request.method, request.path)
        return error_response(
            400, _l("The form has expired or did not come from this site. Please try again.")
        )

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(_error: RateLimitExceeded) -> Response:
        # One Retry-After, from the limit that was hit, and the page says the same wait.
        limit = limiter.current_limit
        seconds = max(1, limit.reset_at - int(time.time())) if limit is not None else 60
        refusal = TooManyRequests(seconds)
        return error_response(429, refusal.message, refusal.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        status = error.code or 500
        if status < 400:
            return error
        # Keep headers that belong to the error (Retry-After on 429, Allow on 405).
        headers = {
            name: value for name, value in error.get_headers() if name.lower() != "content-type"
        }
        return error_response(status, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if _is_outage(error) or _is_redis_outage(error):
            logger.error("dependency unavailable on %s %s: %s", request.method, request.path, error)
            return error_response(503, headers={"Retry-After": str(OUTAGE_RETRY_AFTER)})
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return error_response(500)
