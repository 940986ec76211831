"""Home page, language switch, and the health and readiness probes."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, make_response, redirect, render_template, request
from sqlalchemy import text
from werkzeug.wrappers import Response as WerkzeugResponse

from app.extensions import limiter
from app.i18n import SUPPORTED_LOCALES
from app.main.forms import LanguageForm
from app.urls import safe_next
from app.web.context import database, settings
from app.web.i18n import language_cookie_name

logger = logging.getLogger(__name__)

bp = Blueprint("main", __name__, template_folder="templates")


@bp.get("/")
def home() -> str:
    return render_template("main/home.html", language_form=LanguageForm())


@bp.post("/language")
def set_language() -> WerkzeugResponse:
    form = LanguageForm()
    target = safe_next(request.form.get("next"))
    response = redirect(target, code=303)
    if form.validate_on_submit() and form.language.data in SUPPORTED_LOCALES:
        response.set_cookie(
            language_cookie_name(),
            form.language.data,
            max_age=365 * 24 * 3600,
            secure=settings().cookie_secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """The process is alive (no dependencies checked)."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> tuple[Response, int]:
    """The database and, when configured, Redis answer."""
    checks: dict[str, str] = {}
    ready = True
    try:
        with database().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any driver error means "not ready", never a 500
        logger.warning("readiness: database unreachable", exc_info=True)
        checks["database"] = "unreachable"
        ready = False
    redis_url = settings().redis_url
    if redis_url:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(redis_url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except (RedisError, OSError):
            logger.warning("readiness: redis unreachable", exc_info=True)
            checks["redis"] = "unreachable"
            ready = False
    response = make_response(jsonify(status="ok" if ready else "unavailable", checks=checks))
    return response, 200 if ready else 503
