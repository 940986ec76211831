"""Perceptual hashes that let an investigation find the original of a leaked copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import imagehash
from PIL import Image

from app.imaging.derivatives import resize_long_side

HASH_SIZE: Final = 8  # 64-bit hashes: 16 hex characters each
_HEX_LENGTH: Final = HASH_SIZE * HASH_SIZE // 4
# Hashing shrinks to a few dozen pixels anyway; shrinking a 60 MP photo to this first keeps
# hashing fast without changing what the hash sees.
_WORKING_LONG_SIDE: Final = 512


def _valid_hex(value: str) -> bool:
    return len(value) == _HEX_LENGTH and all(ch in "0123456789abcdef" for ch in value)


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    """pHash (DCT, robust to recompression and rescaling) and dHash (gradients), as hex.

    Two hashes make a false match much less likely than one when searching many photos.
    """

    phash: str
    dhash: str

    def __post_init__(self) -> None:
        for name in ("phash", "dhash"):
            value = getattr(self, name)
            if not _valid_hex(value):
                msg = f"{name} must be {_HEX_LENGTH} lowercase hex characters, got {value!r}"
                raise ValueError(msg)

    def distance(self, other: PerceptualHash) -> int:
        """Differing bits over both hashes (0 = same picture, 128 = unrelated at worst)."""
        return self.phash_distance(other) + self.dhash_distance(other)

    def phash_distance(self, other: PerceptualHash) -> int:
        """Differing bits between the two pHashes (0 to 64)."""
        return _bits_apart(self.phash, other.phash)

    def dhash_distance(self, other: PerceptualHash) -> int:
        """Differing bits between the two dHashes (0 to 64)."""
        return _bits_apart(self.dhash, other.dhash)

    def __str__(self) -> str:
        return f"{self.phash}:{self.dhash}"

    @classmethod
    def from_string(cls, text: str) -> PerceptualHash:
        """Parse the ``phash:dhash`` form produced by ``str()``."""
        phash, sep, dhash = text.strip().lower().partition(":")
        if not sep:
            msg = f"expected 'phash:dhash', got {text!r}"
            raise ValueError(msg)
        return cls(phash=phash, dhash=dhash)


def _bits_apart(left: str, right: str) -> int:
    return (int(left, 16) ^ int(right, 16)).bit_count()


def perceptual_hash(image: Image.Image) -> PerceptualHash:
    """Hash a decoded photo (any size, RGB or L)."""
    small = resize_long_side(image, _WORKING_LONG_SIDE)
    gray = small.convert("L")
    return PerceptualHash(
        phash=str(imagehash.phash(gray, hash_size=HASH_SIZE)),
        dhash=str(imagehash.dhash(gray, hash_size=HASH_SIZE)),
    )
