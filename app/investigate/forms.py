"""Forms of the investigation console (Flask-WTF, so every one carries a CSRF token)."""

from __future__ import annotations

from wtforms import FileField, HiddenField, SelectField, TextAreaField
from wtforms.validators import Length

from app.i18n import lazy_gettext as _l
from app.investigate.services import MAX_NOTES
from app.web.forms import Form


class SuspectForm(Form):
    suspect = FileField(_l("Suspect image (JPEG, PNG, WebP, HEIC, AVIF; a screenshot or crop)"))
    # Operators choose a school or every school; a school administrator has only their own.
    school_id = SelectField(_l("Search the photos of"), choices=[], validate_choice=False)
    # Made by the page's script: the key under which the search's steps can be followed.
    progress_key = HiddenField()


class NotesForm(Form):
    notes = TextAreaField(_l("Notes"), validators=[Length(max=MAX_NOTES)])
