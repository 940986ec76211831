"""Sending the outbox from a request, once what it holds is committed."""

from __future__ import annotations

import logging

from app.mail.services import deliver_mail
from app.web.context import runtime

logger = logging.getLogger(__name__)


def send_mail_soon() -> None:
    """Send the outbox now (inline) or by the worker; housekeeping catches anything left."""
    try:
        runtime().enqueue(deliver_mail)
    except Exception:  # a mail server or queue down must not cost the request
        logger.exception("the outbox could not be sent now; housekeeping will retry")
