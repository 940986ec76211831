"""The base of every form: Flask-WTF (CSRF included) with WTForms' messages translated."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto as _AUTO  # the "read the request" marker of Flask-WTF
from flask_wtf.form import _is_submitted as _submitted
from werkzeug.datastructures import ImmutableMultiDict

from app.errors import Invalid
from app.i18n import gettext as _
from app.web.i18n import WTFormsTranslations

_TRANSLATIONS = WTFormsTranslations()


class Form(FlaskForm):
    """Every form of the application derives from this one."""

    class Meta:
        def get_translations(self, form: Any) -> WTFormsTranslations:
            return _TRANSLATIONS

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            # Flask-WTF reads a JSON body as form data by building a MultiDict from it,
            # which fails with a server error for anything but an object; a form posted
            # as JSON must be an object of field names.
            if formdata is _AUTO and _submitted() and request.is_json and not request.files:
                body = request.get_json(silent=True)
                if not isinstance(body, dict):
                    raise Invalid(_("Send the form's fields as a JSON object."))
                return ImmutableMultiDict(body)
            return super().wrap_formdata(form, formdata)  # type: ignore[misc]


class ActionForm(Form):
    """A button that changes something: the CSRF token is its only field."""
