"""Numbers from URLs, query strings and forms, read one way: ASCII digits within the range
of the database's integer columns, or a clear 404 (path) / 400 (query and form).

Werkzeug's ``int`` converter and Python's ``int()`` accept full-width digits (U+FF11) and
values no column can hold, which reach the database as an error; ``"²".isdigit()`` is true.
"""

from __future__ import annotations

import re
from typing import Any, Final

from werkzeug.routing import BaseConverter, ValidationError

from app.errors import Invalid
from app.i18n import gettext as _

#: The largest id any table can hold (PostgreSQL ``integer``); SQLite holds more, but the
#: application never makes ids above this.
MAX_ID: Final = 2**31 - 1
_ASCII_DIGITS: Final = re.compile(r"[0-9]{1,10}")


def parse_int(raw: str | None, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """``raw`` as an int if it is 1 to 10 ASCII digits within [minimum, maximum], else None."""
    if raw is None or _ASCII_DIGITS.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


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
