"""Odd but acceptable suspects (thin, grey, transparent, CMYK, 16-bit, tiny) get a verdict,
never a server error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

from app.auth.policies import SYSTEM
from app.db import utcnow
from app.investigate.models import Verdict
from app.investigate.services import open_case, search_case
from app.web.context import runtime
from tests.support.gallery import make_gallery


def _saved(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


ODD = {
    "thin and tall": _saved(_noise(64, 3000), "PNG"),
    "wide strip": _saved(_noise(3000, 64), "PNG"),
    "smallest allowed": _saved(_noise(64, 64), "PNG"),
    "grey": _saved(_noise(500, 400, "L"), "PNG"),
    "transparent": _saved(_noise(500, 400, "RGBA"), "PNG"),
    "CMYK JPEG": _saved(_noise(500, 400, "CMYK"), "JPEG"),
    "16-bit grey": _saved(
        Image.fromarray(np.random.default_rng(1).integers(0, 65535, (300, 400), dtype=np.uint16)),
        "PNG",
    ),
    "flat white": _saved(Image.new("RGB", (800, 600), "white"), "JPEG"),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_suspects_get_a_verdict(app: Flask, session: Session, name: str) -> None:
    gallery = make_gallery(app, session, photos=1)
    held = runtime(app)
    case, image = open_case(
        session,
        held.blobs,
        SYSTEM,
        data=ODD[name],
        school_id=gallery.school.id,
        limits=held.limits,
        now=utcnow(),
    )
    search_case(session, held.blobs, held.watermarks, SYSTEM, case, image=image, now=utcnow())
    assert case.verdict is Verdict.NO_MATCH
