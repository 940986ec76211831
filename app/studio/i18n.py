"""Translation for studio messages that are also produced outside requests.

Services and the reasons table run in requests (shown to a photographer in their
language) and in the command line and the worker (logged, or printed to an operator),
where there is no browser to choose a language and Flask-Babel's selector cannot run.
"""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext


def _(text: str, **params: object) -> str:
    """``text`` in the request's language; the English original outside a request."""
    if has_request_context():
        return str(gettext(text, **params))
    return text % params if params else text
