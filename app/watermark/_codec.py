"""Payload <-> channel codeword: a keyed MAC for authenticity, BCH for bit errors.

A codeword is the 32-bit download id, a 32-bit truncated HMAC-SHA256 of that id, and the
63 parity bits of a binary BCH code over GF(2^7) correcting 10 errors: 127 channel bits.
Decoding accepts a word only when BCH decodes it *and* the MAC verifies; everything else is
"absent". The arithmetic behind "never a wrong id" is in docs/watermark.md.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass

import bchlib
import numpy as np
import numpy.typing as npt

PAYLOAD_BITS = 32
MAC_BITS = 32
BCH_M = 7
BCH_T = 10
DATA_BYTES = (PAYLOAD_BITS + MAC_BITS) // 8
# Chase-II soft decoding: besides the hard decision, try every flip pattern of the L least
# reliable bits. Each pattern is one more decode attempt and is counted in the
# false-attribution budget (docs/watermark.md).
CHASE_BITS = 5

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def derive_key(key: bytes, label: str) -> bytes:
    """A sub-key for one purpose, so the MAC and the spreading never share key material."""
    return hmac.new(key, b"photogate-watermark/v1/" + label.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Decoded:
    """A codeword that decoded and authenticated."""

    payload: int
    bit_errors: int
    attempts: int


class PayloadCodec:
    """Turns a payload into channel bits and soft channel values back into a payload."""

    def __init__(self, key: bytes) -> None:
        self._mac_key = derive_key(key, "mac")
        self._bch = bchlib.BCH(BCH_T, m=BCH_M)
        self.ecc_bits: int = int(self._bch.ecc_bits)
        self.data_bits = PAYLOAD_BITS + MAC_BITS
        self.n_bits = self.data_bits + self.ecc_bits
        if self.n_bits > int(self._bch.n):  # pragma: no cover - fixed parameters
            raise AssertionError("BCH code too short for the payload")
        self._ecc_bytes: int = int(self._bch.ecc_bytes)

    def _mac(self, payload: int) -> bytes:
        digest = hmac.new(self._mac_key, payload.to_bytes(4, "big"), hashlib.sha256).digest()
        return digest[: MAC_BITS // 8]

    def encode(self, payload: int) -> BoolArray:
        """The channel bits (length n_bits) for a payload in [0, 2**PAYLOAD_BITS)."""
        data = payload.to_bytes(PAYLOAD_BITS // 8, "big") + self._mac(payload)
        ecc = bytes(self._bch.encode(data))
        bits = np.unpackbits(np.frombuffer(data + ecc, dtype=np.uint8))
        return bits[: self.n_bits].astype(bool)

    def _try(self, hard: BoolArray) -> tuple[int, int] | None:
        packed = np.packbits(hard.astype(np.uint8)).tobytes()
        data = bytearray(packed[:DATA_BYTES])
        ecc = bytearray(packed[DATA_BYTES:].ljust(self._ecc_bytes, b"\0"))
        nerr = int(self._bch.decode(data, ecc))
        if nerr < 0:
            return None
        if nerr:
            self._bch.correct(data, ecc)
        payload = int.from_bytes(data[: PAYLOAD_BITS // 8], "big")
        if not hmac.compare_digest(bytes(data[PAYLOAD_BITS // 8 :]), self._mac(payload)):
            return None
        return payload, nerr

    def decode(self, soft: FloatArray, chase_bits: int = CHASE_BITS) -> Decoded | None:
        """Decode soft values (positive = bit 1); None unless BCH decodes and the MAC holds."""
        hard = soft > 0
        weakest = np.argsort(np.abs(soft), kind="stable")[:chase_bits]
        attempts = 0
        # Fewer flips first: among several authentic words the closest one is the answer.
        for flips in range(chase_bits + 1):
            for combo in itertools.combinations(weakest.tolist(), flips):
                trial = hard.copy()
                trial[list(combo)] ^= True
                attempts += 1
                found = self._try(trial)
                if found is not None:
                    payload, nerr = found
                    return Decoded(payload, nerr + flips, attempts)
        return None

    @staticmethod
    def attempts_per_decode(chase_bits: int = CHASE_BITS) -> int:
        """How many BCH+MAC checks one full decode may make (for the false-alarm budget)."""
        return int(2**chase_bits)
