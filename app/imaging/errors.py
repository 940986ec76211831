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
    """An upload that is not a photo we accept; ``str(exc)`` is meant for the photographer."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code: RejectionCode = code
        self.message = message

    def __repr__(self) -> str:
        return f"RejectedImage(code={self.code!r}, message={self.message!r})"
