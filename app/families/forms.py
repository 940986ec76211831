"""Forms of the family and roster pages."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from app.i18n import lazy_gettext as _l
from app.web.forms import Form


class ClaimForm(Form):
    code = StringField(_l("Invitation code"), validators=[DataRequired(), Length(max=64)])


class RosterUploadForm(Form):
    school_year = IntegerField(
        _l("School year"), validators=[DataRequired(), NumberRange(min=2000, max=2100)]
    )
    roster = FileField(_l("Roster (CSV)"), validators=[FileRequired()])


class RosterConfirmForm(Form):
    school_year = HiddenField(validators=[DataRequired()])
    # The previewed file travels back with the confirmation and is parsed again.
    roster_text = TextAreaField(validators=[DataRequired(), Length(max=1024 * 1024)])
