"""Mutated photos either open or are rejected: no other exception ever escapes."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from app.imaging import RejectedImage, open_upload

_rng = np.random.default_rng(7)
_PIXELS = Image.fromarray(_rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))


def _encoded(fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    _PIXELS.save(out, fmt, **params)
    return out.getvalue()


SEEDS = {
    "jpeg": _encoded("JPEG", quality=90),
    "progressive-jpeg": _encoded("JPEG", quality=90, progressive=True),
    "png": _encoded("PNG"),
    "webp": _encoded("WEBP", quality=80),
}

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
)


def _outcome(data: bytes) -> Image.Image | RejectedImage:
    try:
        return open_upload(data)
    except RejectedImage as exc:
        return exc


def _mutate(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, position, value in steps:
        if not buf:
            break
        at = position % len(buf)
        if kind == "flip":
            buf[at] ^= value
        elif kind == "cut":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = bytes([value]) * 4
        else:
            del buf[at : at + value]
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    steps=st.lists(mutation, min_size=1, max_size=4),
)
def test_mutated_files_open_or_are_rejected(seed: str, steps: list[tuple[str, int, int]]) -> None:
    outcome = _outcome(_mutate(SEEDS[seed], steps))
    if isinstance(outcome, RejectedImage):
        assert outcome.code in {"empty", "format", "corrupt", "truncated", "too_many_pixels"}
        assert str(outcome)
    else:
        assert outcome.mode == "RGB"
        assert outcome.info == {}


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_open_or_are_rejected(data: bytes) -> None:
    # Anything other than RejectedImage escaping _outcome fails the test.
    _outcome(data)
