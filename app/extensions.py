"""Flask extensions, created here and bound to an app by ``init_app`` only."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_wtf import CSRFProtect


def client_ip() -> str:
    """The client address as seen after ProxyFix (trusted proxies only)."""
    return request.remote_addr or "0.0.0.0"  # noqa: S104 (a key, not a bind address)


babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_ip)
