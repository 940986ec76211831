"""Forms of the staff console."""

from __future__ import annotations

from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Regexp

from app.auth.models import StaffRole
from app.i18n import lazy_gettext as _l
from app.web.forms import Form


class StaffCreateForm(Form):
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
