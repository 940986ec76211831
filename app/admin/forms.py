"""Forms of the staff console."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Regexp

from app.auth.models import StaffRole


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class StaffCreateForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), Length(max=320)],
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(StaffRole.SCHOOL_ADMIN.value, _l("School administrator")),
            SelectChoice(StaffRole.PHOTOGRAPHER.value, _l("Photographer")),
            SelectChoice(StaffRole.OPERATOR.value, _l("Operator")),
        ],
    )
    school_id = SelectField(_l("School"), coerce=int, choices=[])
