"""The language of each request: an explicit cookie first, then the browser's preference.

Translation itself is :mod:`app.i18n` (no Flask); this module chooses the request's
language, sets it for the request's duration, and gives templates and WTForms the same
catalogues.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from wtforms.i18n import messages_path

from app.i18n import (
    LANGUAGE_NAMES,
    SUPPORTED_LOCALES,
    activate_locale,
    current_locale,
    default_locale,
    gettext,
    ngettext,
    reset_locale,
)
from app.web.context import settings


def language_cookie_name() -> str:
    """With Secure cookies, the __Host- prefix: no other host can plant a language."""
    return "__Host-photogate-lang" if settings().cookie_secure else "photogate-lang"


def select_locale() -> str:
    """The language of the current request."""
    chosen = request.cookies.get(language_cookie_name())
    if chosen in SUPPORTED_LOCALES:
        return chosen
    best = request.accept_languages.best_match(SUPPORTED_LOCALES)
    return best or default_locale()


def _enter_locale() -> None:
    g._locale_token = activate_locale(select_locale())


def _leave_locale(_exc: BaseException | None) -> None:
    token = g.pop("_locale_token", None)
    if token is not None:
        reset_locale(token)


def _template_globals() -> dict[str, Any]:
    return {
        "current_locale": current_locale(),
        "supported_locales": SUPPORTED_LOCALES,
        "language_names": LANGUAGE_NAMES,
    }


def init_i18n(app: Flask) -> None:
    """Choose the language per request and translate templates with :mod:`app.i18n`."""
    app.before_request(_enter_locale)
    app.teardown_request(_leave_locale)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True
    )
    app.context_processor(_template_globals)


class WTFormsTranslations:
    """WTForms' own messages ("This field is required.") in the request's language."""

    def gettext(self, string: str) -> str:
        return str(_wtforms_catalogue(current_locale()).ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return str(_wtforms_catalogue(current_locale()).ungettext(singular, plural, n))


def _wtforms_catalogue(locale: str) -> Any:
    from babel.support import Translations

    catalogues: dict[str, Any] = _CATALOGUES
    if locale not in catalogues:
        catalogues[locale] = Translations.load(messages_path(), [locale], domain="wtforms")
    return catalogues[locale]


_CATALOGUES: dict[str, Any] = {}
