"""Flask extensions, created here and bound to an app by ``init_app`` only."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf import CSRFProtect

if TYPE_CHECKING:
    from app.config import Settings


def client_ip() -> str:
    """The client address as seen after ProxyFix (trusted proxies only)."""
    return request.remote_addr or "0.0.0.0"  # noqa: S104 (a key, not a bind address)


csrf = CSRFProtect()
# Loads the signed-in account from the server-side session record (app.auth.login).
login_manager = LoginManager()
limiter = Limiter(key_func=client_ip)


def limiter_storage_options(settings: Settings) -> dict[str, Any]:
    """Options of the rate-limit storage (``RATELIMIT_STORAGE_OPTIONS``)."""
    # Test applications share one Redis; each gets its own counters.
    suffix = f"-test-{secrets.token_hex(4)}" if settings.env == "test" else ""
    return {
        "key_prefix": f"photogate{suffix}",
        # A dead Redis must fail fast so the in-memory fallback takes over at once.
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
    }


def init_limiter(app: Flask) -> None:
    """Bind the limiter to ``app``; limits hold even while Redis is unreachable.

    With ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED`` and no separate fallback limits,
    Flask-Limiter 4.1 answers a storage error by switching to an in-memory storage and
    applying the same route limits there (counters start afresh), then probes Redis with a
    growing back-off and switches back once it answers.  Configuring
    ``RATELIMIT_IN_MEMORY_FALLBACK`` would instead *replace* every route limit with those
    limits, so it is deliberately left unset.
    """
    limiter.init_app(app)
    # The limiter object is module-wide: a new application (in tests, one per test) brings
    # new storage, so the "storage is dead" verdict about the previous one must not stick.
    limiter._storage_dead = False
