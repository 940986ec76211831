"""Language choice: an explicit cookie first, then the browser's Accept-Language."""

from __future__ import annotations

from flask import current_app, request

SUPPORTED_LOCALES = ("ja", "en")
LANGUAGE_COOKIE = "photogate_lang"
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    default: str = current_app.config["BABEL_DEFAULT_LOCALE"]
    best = request.accept_languages.best_match(SUPPORTED_LOCALES)
    return best or default
