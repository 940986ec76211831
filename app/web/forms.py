"""The base of every form: Flask-WTF (CSRF included) with WTForms' messages translated."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm

from app.web.i18n import WTFormsTranslations

_TRANSLATIONS = WTFormsTranslations()


class Form(FlaskForm):
    """Every form of the application derives from this one."""

    class Meta:
        def get_translations(self, form: Any) -> WTFormsTranslations:
            return _TRANSLATIONS


class ActionForm(Form):
    """A button that changes something: the CSRF token is its only field."""
