"""A random per-browser cookie that names the device a request came from.

128 random bits, set once and kept for two years, HttpOnly (and ``__Host-`` with Secure
cookies); the server stores only its SHA-256. It tells one browser from another in
deliveries and sign-in records without fingerprinting anything: clearing cookies makes a
new device, which is what the guard expects.
"""

from __future__ import annotations

import hashlib
import secrets

from flask import Flask, Response, g, request

from app.web.identity import cookie_secure

#: Two years: a device lives as long as the browser keeps its cookies.
DEVICE_COOKIE_AGE = 2 * 365 * 24 * 3600


def device_cookie_name() -> str:
    return "__Host-photogate-device" if cookie_secure() else "photogate-device"


def _valid(token: str | None) -> bool:
    return token is not None and len(token) == 32 and all(c in "0123456789abcdef" for c in token)


def device_token() -> str:
    """This browser's device token (a new one is set on the response when it has none)."""
    held: str | None = g.get("_device_token")
    if held is not None:
        return held
    sent = request.cookies.get(device_cookie_name())
    token = sent if sent is not None and _valid(sent) else secrets.token_hex(16)
    g._device_token = token
    g._device_is_new = sent != token
    return token


def device_hash() -> str:
    """The SHA-256 of this browser's device token: what the database keeps."""
    return hashlib.sha256(device_token().encode("ascii")).hexdigest()


def _set_new_device_cookie(response: Response) -> Response:
    if g.get("_device_is_new"):
        response.set_cookie(
            device_cookie_name(),
            g._device_token,
            max_age=DEVICE_COOKIE_AGE,
            path="/",
            secure=cookie_secure(),
            httponly=True,
            samesite="Lax",
        )
    return response


def _forget_previous_request() -> None:
    # ``g`` can outlive a request (a test or command holding an app context open).
    g.pop("_device_token", None)
    g.pop("_device_is_new", None)


def init_devices(app: Flask) -> None:
    """Give every browser that needed a device token its cookie."""
    app.before_request(_forget_previous_request)
    app.after_request(_set_new_device_cookie)
