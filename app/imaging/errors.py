"""The one exception the imaging library raises for bad uploads."""

from __future__ import annotations

from typing import Final, Literal

RejectionCode = Literal[
    "empty",
    "too_large",
    "format",
    "too_many_pixels",
    "truncated",
    "corrupt",
]

REJECTION_CODES: Final[frozenset[str]] = frozenset(
    {"empty", "too_large", "format", "too_many_pixels", "truncated", "corrupt"}
)


class RejectedImage(ValueError):
    """An upload that is not a photo we accept.

    ``str(exc)`` explains it in English (logs, API details); ``code`` is stable, and
    ``found`` (what the bytes look like, e.g. "SVG") and the limits let an application say
    the same in the reader's language.
    """

    def __init__(
        self,
        code: RejectionCode,
        message: str,
        *,
        found: str | None = None,
        max_bytes: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message
        self.found = found
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def __repr__(self) -> str:
        return f"RejectedImage(code={self.code!r}, message={self.message!r})"
