"""TOTP secrets: made, shown once for enrolment, and stored sealed with the KEK.

A TOTP seed is a password equivalent for the second factor, so the database never holds it
in clear: it is sealed (AES-GCM) under the current key-encryption key with the row it
belongs to as context, and follows KEK rotation (``photogate keys rewrap``). Rows written
before sealing (plain base32) still work and are sealed at their next use.
"""

from __future__ import annotations

import base64
import hmac
from typing import Final

import pyotp

from app.storage import KeyRing, sealed_value_key_id

TOTP_ISSUER: Final = "PhotoGate"
TOTP_INTERVAL: Final = 30
#: Marks a sealed value; a plain base32 seed never contains a dot.
SEALED_PREFIX: Final = "s1."


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=TOTP_INTERVAL).provisioning_uri(
        name=email, issuer_name=TOTP_ISSUER
    )


def staff_owner(staff_id: int) -> str:
    """The sealing context of a staff member's seed: it opens for that row only."""
    return f"staff:{staff_id}"


def _context(owner: str) -> bytes:
    return b"photogate/totp/" + owner.encode("ascii")


def seal_secret(keyring: KeyRing, owner: str, secret: str) -> str:
    """``secret`` sealed for ``owner`` (e.g. ``staff:12``), as text for a column."""
    sealed = keyring.seal(secret.encode("ascii"), _context(owner))
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def open_secret(keyring: KeyRing, owner: str, stored: str) -> str:
    """The seed of a stored value (sealed, or plain from before sealing)."""
    if not is_sealed(stored):
        return stored
    body = stored[len(SEALED_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return keyring.open(raw, _context(owner)).decode("ascii")


def needs_reseal(keyring: KeyRing, stored: str) -> bool:
    """Plain, or sealed under a KEK that is no longer the current one."""
    if not is_sealed(stored):
        return True
    body = stored[len(SEALED_PREFIX) :]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return sealed_value_key_id(raw) != keyring.current.key_id


def matching_step(secret: str, code: str, now_seconds: float, after: int | None) -> int | None:
    """The time-step (now ±1, later than ``after``) whose code is ``code``, if any."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_INTERVAL)
    current = int(now_seconds) // TOTP_INTERVAL
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
