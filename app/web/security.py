"""Security headers on every response."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider

from app.config import Settings
from app.web.context import runtime


def content_security_policy(extra_form_actions: tuple[str, ...] = ()) -> str:
    """A strict CSP: our own origin only, no inline script, no framing."""
    form_action = " ".join(("'self'", *extra_form_actions))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            f"form-action {form_action}",
        )
    )


def install_security_headers(app: Flask, settings: Settings) -> None:
    """Add the headers in an ``after_request`` hook."""

    def _csp() -> str:
        # Sign-in forms POST to us and are redirected to the provider's authorization
        # endpoint; Chromium applies form-action to that redirect, so the providers' origins
        # (known once their metadata is read) must be listed.
        oidc = runtime(app).oidc
        origins = oidc.form_action_origins() if oidc is not None else ()
        return content_security_policy(tuple(origins))

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _csp())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        )
        if settings.is_production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if request.endpoint and request.endpoint != "static":
            # Pages may show family data; never keep them in shared or back-button caches.
            headers.setdefault("Cache-Control", "no-store")
        return response


class HardenedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply is malformed JSON (a 400), not a
    RecursionError (a 500): Werkzeug turns only ValueError into a bad request."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
