"""Forms of the main pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf, DataRequired

from app.i18n import SUPPORTED_LOCALES


class LanguageForm(FlaskForm):
    language = StringField(validators=[DataRequired(), AnyOf(SUPPORTED_LOCALES)])
    next = HiddenField()
