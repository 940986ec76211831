"""Numbers from URLs, query strings and forms, read with :func:`app.numbers.parse_int`:
ASCII digits within the range of the database's integer columns, or a clear 404 (path) or
400 (query and form). Werkzeug's own ``int`` converter accepts full-width digits and
values no column can hold."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

from app.errors import Invalid
from app.i18n import gettext as _
from app.numbers import MAX_ID, parse_int


class IdConverter(BaseConverter):
    """``<id:name>``: a positive database id; anything else is not a route (404)."""

    regex = r"[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = parse_int(value, minimum=1)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def int_arg(
    values: Any, name: str, default: int, *, minimum: int = 0, maximum: int = MAX_ID
) -> int:
    """A number from a query string or form (``values`` is a MultiDict); 400 if malformed."""
    raw = values.get(name)
    if raw in (None, ""):
        return default
    number = parse_int(raw, minimum=minimum, maximum=maximum)
    if number is None:
        raise Invalid(
            _(
                "%(name)s must be a whole number from %(low)d to %(high)d.",
                name=name,
                low=minimum,
                high=maximum,
            )
        )
    return number


def id_list(values: Any, name: str) -> list[int]:
    """Every id given as ``name`` (a repeated form field); 400 if any is malformed."""
    ids = []
    for raw in values.getlist(name):
        number = parse_int(raw, minimum=1)
        if number is None:
            raise Invalid(_("Choose from the list."))
        ids.append(number)
    return ids
