"""Forms of the studio pages (Flask-WTF, so every one carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, MultipleFileField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.studio.services.retention import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class UploadForm(FlaskForm):
    # One field name for the page's form and the script's one-file requests.
    file = MultipleFileField(_l("Photos"))
    album_id = SelectField(_l("Album"), choices=[], validate_choice=False)


class AlbumForm(FlaskForm):
    name = StringField(_l("New album"), validators=[DataRequired(), Length(max=120)])


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name of the computer or tool"), validators=[DataRequired(), Length(max=100)]
    )


class WithholdForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class RetentionForm(FlaskForm):
    days = IntegerField(
        _l("Delete photos this many days after the sale closes (empty: platform default)"),
        validators=[Optional(), NumberRange(min=MIN_RETENTION_DAYS, max=MAX_RETENTION_DAYS)],
    )


class AssignForm(FlaskForm):
    photographer_id = SelectField(_l("Photographer"), coerce=int, choices=[])
