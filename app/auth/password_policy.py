"""Which staff passwords are refused: short ones, common ones, and predictable patterns.

The common-password list is the 10,000 most frequent passwords of zxcvbn's leak-derived
list (MIT, see ``data/README.md``).  With a 12-character minimum few of them are long
enough to matter verbatim, so the check also looks through the usual disguises: a common
word padded with digits or punctuation, a repeated chunk, a keyboard or alphabet run.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

from app.i18n import lazy_gettext as _l

MIN_LENGTH = 12
MAX_LENGTH = 256
_DATA = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
# A word of the list is only worth reporting when it makes up most of the password.
_MIN_WORD = 4
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lower-cased."""
    lines = _DATA.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line)


def _is_run(text: str) -> bool:
    """Mostly a walk along the alphabet, the digits or the keyboard (either direction)."""
    for sequence in _SEQUENCES:
        for source in (sequence, sequence[::-1]):
            if len(text) >= 4 and text in source * 3:
                return True
    return False


def _is_repetition(text: str) -> bool:
    """A chunk of at most four characters repeated, e.g. ``abcabcabcabc``."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size) for size in range(1, 5)
    )


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Reasons to refuse ``password`` (an empty list when it is acceptable)."""
    problems: list[str] = []
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised) < MIN_LENGTH:
        problems.append(str(_l("Use at least %(count)d characters.", count=MIN_LENGTH)))
        return problems
    if len(normalised) > MAX_LENGTH:
        problems.append(str(_l("Use at most %(count)d characters.", count=MAX_LENGTH)))
        return problems
    lowered = normalised.lower()
    compact = re.sub(r"[\s_\-.]+", "", lowered)
    # The word a common habit hides: strip leading and trailing digits and punctuation.
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", compact)
    common = common_passwords()
    if (
        lowered in common
        or compact in common
        or (len(core) >= _MIN_WORD and core in common and len(core) * 2 >= len(compact))
    ):
        problems.append(str(_l("This password is among the most common ones.")))
    elif _is_repetition(compact) or _is_run(compact) or len(set(compact)) <= 3:
        problems.append(str(_l("This password follows an easy pattern.")))
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= _MIN_WORD and local_part in lowered:
        problems.append(str(_l("Do not use your e-mail address in the password.")))
    if "photogate" in compact:
        problems.append(str(_l("Do not use the name of this site in the password.")))
    return problems
