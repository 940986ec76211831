"""Safe handling of user-supplied redirect targets."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def safe_next(target: str | None, default: str = "/") -> str:
    """Return ``target`` if it is a local path on this site, else ``default``.

    Only plain absolute paths pass: no scheme, no host, no ``//`` or ``/\\`` prefix (browsers
    read both as another host), no control characters, also after percent-decoding.
    """
    if not target:
        return default
    for candidate in (target, unquote(target), unquote(unquote(target))):
        if any(ord(ch) < 0x20 or ch == "\x7f" for ch in candidate):
            return default
        if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
            return default
        if "\\" in candidate:
            return default
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return default
    return target
