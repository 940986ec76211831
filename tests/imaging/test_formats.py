"""Format sniffing by content."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.imaging import ACCEPTED_FORMATS, AVIF_SUPPORTED, describe_content, sniff_format
from tests.imaging.support import encode


def _sample(fmt: str) -> bytes:
    return encode(Image.new("RGB", (8, 8), (1, 2, 3)), fmt)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_accepted_formats_are_recognised_by_their_bytes(fmt: str) -> None:
    assert sniff_format(_sample(fmt)) == fmt


@pytest.mark.skipif(not AVIF_SUPPORTED, reason="this Pillow cannot read AVIF")
def test_avif_is_recognised_when_pillow_reads_it() -> None:
    assert "AVIF" in ACCEPTED_FORMATS
    assert sniff_format(_sample("AVIF")) == "AVIF"


def test_heic_brand_variants_are_heif() -> None:
    for brand in (b"heic", b"heix", b"mif1"):
        head = b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1heic"
        assert sniff_format(head) == "HEIF"


def test_generic_container_with_av1_brand_is_avif() -> None:
    head = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"
    assert sniff_format(head) == ("AVIF" if AVIF_SUPPORTED else None)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", None),
        (b"\xff\xd8", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"\xef\xbb\xbf  <?xml version='1.0'?><svg/>", "SVG"),
        (b"<html><body>hello</body></html>", "HTML"),
        (b"  <!doctype HTML><p>", "HTML"),
        (b"<?xml version='1.0'?><note/>", "XML"),
        (b"just a note\n", "text"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"%PDF-1.4", "PDF"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1", "video"),
        (b"\x7fELF\x02\x01\x01", "program"),
        (b"BM\x3a\x00\x00\x00\x00\x00", "BMP"),
        (bytes(range(256)), None),
    ],
)
def test_other_content_is_not_accepted_but_described(data: bytes, name: str | None) -> None:
    assert sniff_format(data) is None
    assert describe_content(data) == name


def test_file_names_play_no_part() -> None:
    # The API takes bytes only; a PNG is a PNG whatever it was called.
    png = _sample("PNG")
    assert sniff_format(png) == "PNG"
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
