"""The one catalogue of why an upload was refused or a photo failed, in the reader's language.

The imaging library explains itself in English for logs and API details; people read
these, keyed by the stable codes it raises plus the photo pipeline's own ("duplicate",
"storage", "internal").  Used for studio uploads and for suspect images alike.
"""

from __future__ import annotations

from typing import Any

from app.i18n import gettext as _
from app.i18n import lazy_gettext as _l
from app.imaging import AVIF_SUPPORTED, RejectedImage

_REASONS: dict[str, Any] = {
    "empty": _l("The file is empty. Please choose the photo again."),
    "truncated": _l("The photo is cut off (the file is incomplete). Please upload it again."),
    "corrupt": _l(
        "The photo could not be read: the file is damaged. "
        "Please export it again and upload the new file."
    ),
    "duplicate": _l("This photo is already in this event."),
    "storage": _l("The stored upload could not be read. Please upload the photo again."),
    "internal": _l("Processing failed on our side. Please retry."),
}


def accepted_formats() -> str:
    """The formats an upload may have, for people."""
    return "JPEG, PNG, WebP, HEIC, AVIF" if AVIF_SUPPORTED else "JPEG, PNG, WebP, HEIC"


def _format_reason(found: str | None) -> str:
    if found:
        return _(
            "This file is not a photo we accept (it looks like %(found)s). "
            "Upload one of: %(formats)s.",
            found=found,
            formats=accepted_formats(),
        )
    return _(
        "This file is not a photo we accept. Upload one of: %(formats)s.",
        formats=accepted_formats(),
    )


def _limit_reason(code: str, max_bytes: int | None, max_pixels: int | None) -> str:
    if code == "too_large":
        if max_bytes:
            return _(
                "The file is too large: the limit is %(limit)s MB.", limit=f"{max_bytes / 1e6:.0f}"
            )
        return _("The file is too large.")
    if max_pixels:
        return _(
            "The photo has too many pixels: the limit is %(limit)s megapixels.",
            limit=f"{max_pixels / 1e6:.0f}",
        )
    return _("The photo has too many pixels.")


def reason_text(
    code: str | None,
    *,
    found: str | None = None,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    fallback: str | None = None,
) -> str:
    """The reason for ``code`` in the current language."""
    if code == "format":
        return _format_reason(found)
    if code in ("too_large", "too_many_pixels"):
        return _limit_reason(code, max_bytes, max_pixels)
    if code is not None and code in _REASONS:
        return str(_REASONS[code])
    return fallback or _("The photo could not be processed.")


def rejection_text(rejected: RejectedImage) -> str:
    """What to tell a person about a refused image."""
    return reason_text(
        rejected.code,
        found=rejected.found,
        max_bytes=rejected.max_bytes,
        max_pixels=rejected.max_pixels,
        fallback=rejected.message,
    )
