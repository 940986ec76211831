"""Studio services: assignments, albums, API tokens, uploads, processing, school controls,
retention, retries.  Each takes the session (and the acting user), flushes and never commits."""

from __future__ import annotations

from app.studio.services.albums import album_in_event, create_album
from app.studio.services.assignments import (
    NotAPhotographer,
    assign_photographer,
    assigned_events,
    find_staff_by_email,
    photographers,
    studio_events,
    unassign_photographer,
)
from app.studio.services.moderation import (
    awaiting_review,
    end_event_hold,
    hold_event,
    release_photo,
    release_reviewed,
    withhold_photo,
)
from app.studio.services.retention import (
    DEFAULT_RETENTION_DAYS,
    PurgeResult,
    delete_blobs,
    purge_due_at,
    purge_expired_photos,
    retention_days_of,
    set_retention,
)
from app.studio.services.retries import retry_photo
from app.studio.services.tokens import (
    IssuedToken,
    authenticate_api_token,
    create_api_token,
    revoke_api_token,
    token_of,
    tokens_of,
)
from app.studio.services.uploads import (
    IncomingFile,
    StorageUnavailable,
    UploadOutcome,
    UploadStatus,
    accepted_ids,
    chosen_album,
    clean_filename,
    known_photos,
    upload_photos,
)

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "IncomingFile",
    "IssuedToken",
    "NotAPhotographer",
    "PurgeResult",
    "StorageUnavailable",
    "UploadOutcome",
    "UploadStatus",
    "accepted_ids",
    "album_in_event",
    "assign_photographer",
    "assigned_events",
    "authenticate_api_token",
    "awaiting_review",
    "chosen_album",
    "clean_filename",
    "create_album",
    "create_api_token",
    "delete_blobs",
    "end_event_hold",
    "find_staff_by_email",
    "hold_event",
    "known_photos",
    "photographers",
    "purge_due_at",
    "purge_expired_photos",
    "release_photo",
    "release_reviewed",
    "retention_days_of",
    "retry_photo",
    "revoke_api_token",
    "set_retention",
    "studio_events",
    "token_of",
    "tokens_of",
    "unassign_photographer",
    "upload_photos",
    "withhold_photo",
]
