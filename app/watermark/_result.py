"""The answer of an extraction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["blind", "informed"]


@dataclass(frozen=True, slots=True)
class Extraction:
    """What a suspect image says. ``payload`` is None unless a mark decoded and authenticated."""

    payload: int | None
    confidence: float
    method: Method
    key_version: str | None = None
    pilot_score: float = 0.0
    bit_errors: int | None = None
    cell_pitch: float | None = None  # cell size in suspect pixels
    angle: float | None = None  # degrees, rotation of the tile grid in the suspect
    attempts: int = 0  # BCH+MAC checks made, for the false-alarm arithmetic

    @property
    def found(self) -> bool:
        return self.payload is not None
