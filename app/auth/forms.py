"""Forms of the sign-in pages (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.i18n import lazy_gettext as _l
from app.web.forms import Form


class ProviderSignInForm(Form):
    next = HiddenField()


class StaffSignInForm(Form):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class CodeForm(Form):
    code = StringField(
        _l("Code from your authenticator app, or a recovery code"),
        validators=[DataRequired(), Length(max=32)],
    )
    next = HiddenField()


class EnrolForm(Form):
    code = StringField(
        _l("The 6-digit code your app shows now"), validators=[DataRequired(), Length(max=16)]
    )


class SetPasswordForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(
        _l("The same password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
