"""Forms of the studio pages (Flask-WTF, so every one carries a CSRF token)."""

from __future__ import annotations

from wtforms import IntegerField, MultipleFileField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.i18n import lazy_gettext as _l
from app.studio.services.retention import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from app.web.forms import Form


class UploadForm(Form):
    # One field name for the page's form and the script's one-file requests.
    file = MultipleFileField(_l("Photos"))
    album_id = SelectField(_l("Album"), choices=[], validate_choice=False)


class AlbumForm(Form):
    name = StringField(_l("New album"), validators=[DataRequired(), Length(max=120)])
    # Filled with the event's classes by the view; empty means "no class".
    classroom_id = SelectField(_l("Class (optional)"), choices=[], validate_choice=False)


class TokenForm(Form):
    name = StringField(
        _l("Name of the computer or tool"), validators=[DataRequired(), Length(max=100)]
    )


class WithholdForm(Form):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class RetentionForm(Form):
    days = IntegerField(
        _l("Delete photos this many days after the sale closes (empty: platform default)"),
        validators=[Optional(), NumberRange(min=MIN_RETENTION_DAYS, max=MAX_RETENTION_DAYS)],
    )


class AssignForm(Form):
    photographer_id = SelectField(_l("Photographer"), coerce=int, choices=[])
