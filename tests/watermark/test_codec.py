"""The payload code: exact round trips, error correction, and nothing accepted by chance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.watermark._codec import BCH_T, PAYLOAD_BITS, PayloadCodec

KEY = b"k" * 32


@pytest.fixture(scope="module")
def codec() -> PayloadCodec:
    return PayloadCodec(KEY)


def signed(bits: np.ndarray) -> np.ndarray:
    return np.where(bits, 1.0, -1.0)


def test_codeword_has_127_channel_bits(codec: PayloadCodec) -> None:
    assert codec.n_bits == 127
    assert codec.encode(0).shape == (127,)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.integers(0, 2**PAYLOAD_BITS - 1),
    errors=st.lists(st.integers(0, 126), max_size=BCH_T, unique=True),
)
def test_up_to_t_hard_errors_decode_exactly(payload: int, errors: list[int]) -> None:
    codec = PayloadCodec(KEY)
    soft = signed(codec.encode(payload))
    soft[errors] *= -1
    found = codec.decode(soft, chase_bits=0)
    assert found is not None
    assert found.payload == payload
    assert found.bit_errors == len(errors)


def test_chase_recovers_more_errors_when_they_are_the_least_reliable(codec: PayloadCodec) -> None:
    rng = np.random.default_rng(3)
    payload = 0xDEADBEEF
    soft = signed(codec.encode(payload)) * rng.uniform(0.6, 1.0, 127)
    flipped = rng.choice(127, BCH_T + 3, replace=False)
    soft[flipped] *= -0.05
    assert codec.decode(soft, chase_bits=0) is None
    found = codec.decode(soft)
    assert found is not None
    assert found.payload == payload


def test_random_channel_values_never_decode(codec: PayloadCodec) -> None:
    rng = np.random.default_rng(11)
    assert all(codec.decode(rng.normal(0, 1, 127)) is None for _ in range(2000))


def test_codeword_under_another_key_is_rejected(codec: PayloadCodec) -> None:
    other = PayloadCodec(b"x" * 32)
    assert other.decode(signed(codec.encode(123456))) is None


def test_mac_makes_neighbouring_ids_far_apart(codec: PayloadCodec) -> None:
    a = codec.encode(1000)
    b = codec.encode(1001)
    assert int(np.sum(a != b)) > 2 * BCH_T + 1
