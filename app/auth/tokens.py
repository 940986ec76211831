"""Random secrets for the browser or the user, and what the database keeps of them."""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Letters and digits people do not confuse when reading a letter aloud or typing it:
#: no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTWXY"
CODE_GROUP = 4


def new_token() -> str:
    """A 256-bit random token for a cookie or a link."""
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    """What is stored of a high-entropy token: a plain SHA-256 suffices (nothing to guess)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def keyed_hash(key: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` for ``purpose``: a stolen table reveals nothing without the key."""
    return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()


def new_code(length: int) -> str:
    """A human-typable code of ``length`` symbols, grouped by four: ``ACDE-FGHJ-KMNP``.

    Each symbol carries log2(23) ≈ 4.5 bits: 12 symbols ≈ 54 bits, 16 ≈ 72 bits.
    """
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, length, CODE_GROUP))


def normalise_code(typed: str) -> str:
    """The canonical form of a typed code: upper case, separators and spaces removed."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())
