"""Whole numbers from untrusted text, read one way everywhere (no Flask).

Python's ``int()`` accepts full-width digits ("\\uff11") and signs and spaces, and
``"\\u00b2".isdigit()`` is true; values beyond the database's integer columns reach it as
an error. Only 1 to 10 ASCII digits within a stated range are numbers here.
"""

from __future__ import annotations

import re
from typing import Final

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
