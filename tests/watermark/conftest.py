"""Fixtures for the watermark tests."""

from __future__ import annotations

import pytest
from _wm_support import KEY, OTHER_KEY

from app.watermark import Watermarker


@pytest.fixture(scope="session")
def marker() -> Watermarker:
    return Watermarker(KEY)


@pytest.fixture(scope="session")
def other_marker() -> Watermarker:
    return Watermarker(OTHER_KEY)
