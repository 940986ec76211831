"""Putting photos that failed, or whose job was lost, back in the queue."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from app.auth.policies import Actor
from app.errors import Conflict, Forbidden
from app.i18n import gettext as _
from app.photos.models import Photo, PhotoStatus
from app.photos.processing import can_be_retried
from app.studio.policies import can_retry_photo

logger = logging.getLogger(__name__)


def retry_photo(session: Session, actor: Actor, photo: Photo, *, now: dt.datetime) -> None:
    """Put a failed (or stale pending) photo back in the queue (flushed).

    The caller commits and then queues the job.
    """
    if not can_retry_photo(actor, photo):
        raise Forbidden()
    if not can_be_retried(photo, now):
        if photo.status is PhotoStatus.PENDING:
            raise Conflict(_("The photo is still being processed."))
        raise Conflict(_("Only photos that failed can be retried."))
    photo.status = PhotoStatus.PENDING
    photo.failure_code = None
    photo.failure_reason = None
    photo.queued_at = now
    session.flush()
    logger.info("photo %s queued again", photo.id)
