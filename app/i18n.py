"""Translations for every layer — services, forms, templates, the command line — without Flask.

The catalogues are Babel's compiled ``.mo`` files under ``app/translations``.  The language
is a context variable: the web layer sets it for each request from the language cookie or
the browser (:mod:`app.web.i18n`); anywhere else (the command line, a worker, a test that
calls a service) the configured default applies.  Services therefore translate the same
way in a request and outside one, and import nothing from Flask.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final, cast

from babel.support import LazyProxy, NullTranslations, Translations

SUPPORTED_LOCALES: Final = ("ja", "en")
LANGUAGE_NAMES: Final = {"ja": "日本語", "en": "English"}
TRANSLATIONS_DIR: Final = Path(__file__).resolve().parent / "translations"

_default_locale = "ja"
_current: ContextVar[str | None] = ContextVar("photogate_locale", default=None)


def set_default_locale(locale: str) -> None:
    """The language used outside requests and when a browser asks for none we speak."""
    global _default_locale  # noqa: PLW0603 (one process-wide setting, set at start-up)
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"unsupported locale {locale!r}")
    _default_locale = locale


def default_locale() -> str:
    return _default_locale


def current_locale() -> str:
    """The language of the current request, or the default outside one."""
    return _current.get() or _default_locale


@contextlib.contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    """Translate into ``locale`` inside the block (None: the default)."""
    token = _current.set(locale if locale in SUPPORTED_LOCALES else None)
    try:
        yield
    finally:
        _current.reset(token)


def activate_locale(locale: str | None) -> object:
    """Set the language until :func:`reset_locale` (for request hooks that cannot nest)."""
    return _current.set(locale if locale in SUPPORTED_LOCALES else None)


def reset_locale(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of ``locale`` (English originals when it is missing)."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the current language, with ``%(name)s`` placeholders filled in."""
    translated = translations(current_locale()).ugettext(string)
    return translated % variables if variables else translated


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural form for ``num``; ``%(num)d`` is available to both."""
    variables.setdefault("num", num)
    translated = translations(current_locale()).ungettext(singular, plural, num)
    return translated % variables


def lazy_gettext(string: str, **variables: Any) -> str:
    """Translated when shown, in the language of whoever looks (module-level messages).

    The result is a :class:`babel.support.LazyProxy`; it behaves as the translated ``str``
    wherever it is used, which is what the annotation tells the type checker.
    """
    return cast(str, LazyProxy(gettext, string, enable_cache=False, **variables))


_ = gettext
_l = lazy_gettext
