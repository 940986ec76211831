"""Application errors raised by services, and the handlers that render every error.

Services raise :class:`AppError` subclasses, never web exceptions.  Every error becomes a
page (or JSON for API clients) with a clear message and the right 4xx; unexpected
exceptions become a plain 500 page, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of the errors services raise; ``message`` is safe to show to the user."""

    status_code = 400

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. ``Retry-After`` on a lockout)."""
        return {}


class Invalid(AppError):
    status_code = 400


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


TITLES: dict[int, Any] = {
    400: _l("This request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This conflicts with something that already exists"),
    413: _l("The upload is too large"),
    429: _l("Too many requests"),
    500: _l("Something went wrong on our side"),
}

HINTS: dict[int, Any] = {
    400: _l("Please go back, check what you entered and try again."),
    401: _l("Sign in and try again."),
    403: _l("If you think you should have access, ask your school."),
    404: _l("The address may be mistyped, or the page is not available to your account."),
    405: _l("Please go back and use the buttons on the page."),
    409: _l("Reload the page to see the current state."),
    413: _l("Please choose a smaller file."),
    429: _l("Please wait a moment before trying again."),
    500: _l("The error has been logged. Please try again later."),
}


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def render_error(status: int, message: str | None = None) -> tuple[Response | str, int]:
    """Render an error page (or JSON) for ``status`` with an optional specific message."""
    title = TITLES.get(status, TITLES[400 if status < 500 else 500])
    hint = message or HINTS.get(status, HINTS[400 if status < 500 else 500])
    if _wants_json():
        return jsonify(error=str(title), message=str(hint), status=status), status
    return render_template("errors/error.html", status=status, title=title, hint=hint), status


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; called by the application factory."""

    @app.errorhandler(AppError)
    def _app_error(error: AppError) -> tuple[Response | str, int, dict[str, str]]:
        body, status = render_error(error.status_code, error.message)
        return body, status, error.headers

    @app.errorhandler(CSRFError)
    def _csrf_error(_error: CSRFError) -> tuple[Response | str, int]:
        logger.info("CSRF check failed on %s %s", request.method, request.path)
        return render_error(
            400, str(_l("The form has expired or did not come from this site. Please try again."))
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        status = error.code or 500
        if status < 400:
            return error
        response, code = render_error(status)
        if isinstance(response, str):
            response = Response(response, status=code, mimetype="text/html")
        else:
            response.status_code = code
        # Keep headers that belong to the error (Retry-After on 429, Allow on 405).
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response | str, int]:
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return render_error(500)
