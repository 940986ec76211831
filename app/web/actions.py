"""The skeleton of a POST that changes something, written once.

A view loads and authorizes its objects, validates its form, calls one service, and then
``return commit_action(...)``: the audit event, the commit, the flash message and the
303 redirect, in that order, so a failed commit leaves neither an audit row nor a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from app.audit.services import DetailValue
from app.errors import Invalid
from app.web.audit import audit
from app.web.context import db_session


@dataclass(frozen=True)
class Audited:
    """An audit event to record with the action."""

    action: str
    subject: str = ""
    details: Mapping[str, DetailValue] = field(default_factory=dict)


def checked(form: Any) -> None:
    """Raise :class:`Invalid` with the form's own messages unless it validates.

    The CSRF token was already checked for every POST before the view ran, so this is
    about the form's fields only; forms without fields need no call.
    """
    if not form.validate_on_submit():
        errors = [str(message) for messages in form.errors.values() for message in messages]
        raise Invalid(" ".join(errors) or None)


def commit_action(
    target: str,
    message: object | None = None,
    *,
    audited: Audited | None = None,
    category: str = "success",
) -> WerkzeugResponse:
    """Audit, commit, flash ``message`` and redirect to ``target`` with 303."""
    if audited is not None:
        audit(audited.action, subject=audited.subject, details=audited.details)
    db_session().commit()
    if message:
        flash(str(message), category)
    return redirect(target, code=303)
