"""Forms of the main pages."""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired

from app.i18n import SUPPORTED_LOCALES
from app.web.forms import Form


class LanguageForm(Form):
    language = StringField(validators=[DataRequired(), AnyOf(SUPPORTED_LOCALES)])
    next = HiddenField()
