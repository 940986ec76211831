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
    from app.auth.oidc import OidcClient
    from app.auth.setup import load_providers
    from app.config import Settings
    from app.extensions import csrf, init_limiter, limiter_storage_options
    from app.guard.watch import init_guard
    from app.i18n import set_default_locale
    from app.investigate.progress import init_progress
    from app.runtime import build_runtime
    from app.web.context import install_runtime
    from app.web.devices import init_devices
    from app.web.errors import register_error_handlers
    from app.web.i18n import init_i18n
    from app.web.identity import init_identity
    from app.web.params import IdConverter
    from app.web.registry import register_blueprints
    from app.web.security import HardenedJSONProvider, install_security_headers

    settings = settings or Settings.from_env()
    runtime = build_runtime(settings)
    runtime.oidc = OidcClient(load_providers(settings))
    set_default_locale(settings.default_locale)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.var_dir.chmod(0o700)

    app = Flask(__name__)
    app.json = HardenedJSONProvider(app)
    logging.basicConfig(level=settings.log_level)
    secure = settings.cookie_secure
    app.config.update(
        SECRET_KEY=runtime.secrets.flask_secret,
        # The __Host- prefix makes the browser refuse the cookie unless it is Secure,
        # host-only and path=/, so it is only used when cookies are Secure.
        SESSION_COOKIE_NAME="__Host-photogate" if secure else "photogate",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: the OpenID Connect callback is a cross-site top-level navigation.
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        # Rate-limit headers would overwrite the Retry-After of our own lockouts and appear
        # on every answer; a 429 gets one Retry-After from app.web.errors instead.
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_STORAGE_OPTIONS=limiter_storage_options(settings),
        WTF_CSRF_TIME_LIMIT=3600,
        # Only the public URL's host is answered (and, outside production, the loopback
        # names): Werkzeug builds redirects such as the trailing-slash one from the Host
        # header, which must therefore never be an attacker's.
        TRUSTED_HOSTS=settings.trusted_hosts,
        PREFERRED_URL_SCHEME="https" if settings.is_production else "http",
    )

    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )

    app.url_map.converters["id"] = IdConverter
    install_runtime(app, runtime)
    init_i18n(app)
    csrf.init_app(app)
    init_limiter(app)
    install_security_headers(app, settings)
    register_error_handlers(app)
    init_identity(app)
    init_devices(app)
    init_guard(app)
    init_progress(app, settings.redis_url)
    register_blueprints(app)
    return app
