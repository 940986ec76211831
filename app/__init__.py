"""PhotoGate: a photo-sales portal for school photographers where every download is traceable."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Imported lazily so that ``import app.watermark`` (a pure library) loads no Flask.
    from flask import Flask

    from app.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the application for ``settings`` (read from the environment when omitted)."""
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app import models  # noqa: F401 (registers every table on Base.metadata)
    from app.auth.setup import init_identity
    from app.config import Settings
    from app.db import Database, make_engine
    from app.errors import register_error_handlers
    from app.extensions import babel, csrf, init_limiter, limiter_storage_options
    from app.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES, select_locale
    from app.jobs import JobRunner
    from app.security import install_security_headers

    settings = settings or Settings.from_env()
    secrets = settings.load_secrets()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.var_dir.chmod(0o700)

    app = Flask(__name__)
    logging.basicConfig(level=settings.log_level)
    secure = settings.cookie_secure
    app.config.update(
        SECRET_KEY=secrets.flask_secret,
        # The __Host- prefix makes the browser refuse the cookie unless it is Secure,
        # host-only and path=/, so it is only used when cookies are Secure.
        SESSION_COOKIE_NAME="__Host-photogate" if secure else "photogate",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: the OpenID Connect callback is a cross-site top-level navigation.
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES="translations",
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_STORAGE_OPTIONS=limiter_storage_options(settings),
        WTF_CSRF_TIME_LIMIT=3600,
        PREFERRED_URL_SCHEME="https" if settings.is_production else "http",
    )
    app.extensions["photogate.settings"] = settings
    app.extensions["photogate.secrets"] = secrets
    app.extensions["photogate.jobs"] = JobRunner(settings.redis_url)

    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )

    Database(make_engine(settings.database_url)).init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    init_limiter(app)
    install_security_headers(app, settings)
    register_error_handlers(app)
    init_identity(app, settings, secrets)

    @app.context_processor
    def _template_globals() -> dict[str, object]:
        from flask_babel import get_locale

        return {
            "current_locale": str(get_locale()),
            "supported_locales": SUPPORTED_LOCALES,
            "language_names": LANGUAGE_NAMES,
        }

    from app.main.views import bp as main_bp

    app.register_blueprint(main_bp)

    from app.studio.api import bp as studio_api_bp
    from app.studio.views import bp as studio_bp

    app.register_blueprint(studio_bp)
    app.register_blueprint(studio_api_bp)
    return app
