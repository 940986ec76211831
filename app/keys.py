"""Keys derived from the three secrets, and the watermark keys with their versions.

Each use of a secret gets its own key (HKDF with a distinct label), so no two features
share key material: invitation and recovery codes, the audit chain, and the encryption of
TOTP secrets.  Watermark keys are named by a fingerprint that reveals nothing about them;
the current key marks new deliveries, every kept key is tried when reading a suspect.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import Secrets
from app.storage import fingerprint

if TYPE_CHECKING:
    from app.watermark import Keyring, Watermarker

CODES_INFO = b"photogate codes"
AUDIT_INFO = b"photogate audit"


def derive_key(secret: bytes, info: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from ``secret``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class DerivedKeys:
    """The keys the application derives from the Flask secret."""

    #: HMAC of invitation and recovery codes (only hashes are stored).
    codes: bytes = field(repr=False)
    #: HMAC of the audit hash chain.
    audit: bytes = field(repr=False)

    @classmethod
    def from_secrets(cls, secrets: Secrets) -> DerivedKeys:
        return cls(
            codes=derive_key(secrets.flask_secret, CODES_INFO),
            audit=derive_key(secrets.flask_secret, AUDIT_INFO),
        )


def watermark_key_id(secret: bytes) -> str:
    """The public name of a watermark key (16 hex characters)."""
    return fingerprint(secret)


class WatermarkKeys:
    """The current watermark key and the retired ones, built on first use.

    Building the engine loads OpenCV and SciPy; a web process that never marks or reads a
    photo does not pay for it.
    """

    def __init__(self, current: bytes, retired: tuple[bytes, ...] = ()) -> None:
        self._secrets = {watermark_key_id(current): current}
        for secret in retired:
            self._secrets.setdefault(watermark_key_id(secret), secret)
        self.current_id = watermark_key_id(current)

    @classmethod
    def from_secrets(cls, secrets: Secrets) -> WatermarkKeys:
        return cls(secrets.watermark_key, secrets.watermark_retired)

    def __repr__(self) -> str:
        return f"WatermarkKeys(current={self.current_id!r}, kept={sorted(self._secrets)!r})"

    @property
    def versions(self) -> list[str]:
        """Every kept key id, the current one first."""
        return list(self._secrets)

    @functools.cached_property
    def keyring(self) -> Keyring:
        """Every kept key, for reading suspects (the result names the key's id)."""
        from app.watermark import Keyring

        return Keyring(self._secrets)

    def current(self) -> Watermarker:
        """The engine that marks new deliveries."""
        return self.keyring[self.current_id]
