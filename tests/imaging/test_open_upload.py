"""open_upload on hand-made files: limits, formats, frames, orientation, colour, metadata."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from app.imaging import (
    AVIF_SUPPORTED,
    DEFAULT_MAX_BYTES,
    REJECTION_CODES,
    RejectedImage,
    encode_jpeg,
    open_upload,
)
from tests.imaging.support import (
    adobe_rgb_like_profile,
    assert_clean_jpeg,
    encode,
    gray_profile,
    mean_abs_diff,
    png_bytes,
    png_chunk,
    png_with_rows,
)

RED = (220, 30, 40)
BLUE = (30, 40, 220)


def _pattern(size: tuple[int, int] = (64, 32)) -> Image.Image:
    """An image whose every flip and turn looks different."""
    image = Image.new("RGB", size, "white")
    width, height = size
    image.paste(RED, (0, 0, width // 4, height))
    image.paste(BLUE, (0, 0, width, height // 4))
    return image


def _exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SchoolCam"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (35.0, 39.0, 29.0)
    gps[3] = "E"
    gps[4] = (139.0, 44.0, 28.0)
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="35,39.48N" exif:GPSLongitude="139,44.47E"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def _with_iptc(jpeg: bytes) -> bytes:
    """Insert a Photoshop APP13 segment holding an IPTC caption right after SOI."""
    iptc = b"\x1c\x02\x78" + struct.pack(">H", 14) + b"Sports day 3B" + b"."
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def _rejection(data: bytes, **limits: int) -> RejectedImage:
    with pytest.raises(RejectedImage) as caught:
        open_upload(data, **limits)
    assert caught.value.code in REJECTION_CODES
    return caught.value


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every pixel decode Pillow starts, to prove a rejection came first."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


def test_the_decode_spy_sees_decoding(load_calls: list[str]) -> None:
    # Positive control for the "rejected before decoding" tests below.
    open_upload(encode(_pattern(), "PNG"))
    assert "PngImageFile" in load_calls


# -- metadata ----------------------------------------------------------------------------


def test_jpeg_with_every_metadata_block_comes_out_with_none() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(
        _pattern(),
        "JPEG",
        exif=_exif_with_gps(),
        xmp=XMP,
        icc_profile=srgb,
        comment=b"taken at Hillside Primary",
    )
    source = _with_iptc(source)
    for needle in (b"Exif", b"GPS", b"<x:xmpmeta", b"Photoshop 3.0", b"Hillside", b"ICC_PROFILE"):
        assert needle in source

    image = open_upload(source)

    assert image.info == {}
    assert len(image.getexif()) == 0
    clean = encode_jpeg(image)
    assert_clean_jpeg(clean)
    assert b"Hillside" not in clean
    assert b"SchoolCam" not in clean


def test_png_text_xmp_and_exif_chunks_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "Hillside Primary, class 3B")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    source = encode(_pattern(), "PNG", pnginfo=info, exif=_exif_with_gps())

    image = open_upload(source)

    assert image.info == {}
    assert len(image.getexif()) == 0
    clean = encode_jpeg(image)
    assert_clean_jpeg(clean)
    assert b"Hillside" not in clean


def test_webp_exif_and_xmp_are_dropped() -> None:
    source = encode(_pattern(), "WEBP", exif=_exif_with_gps(), xmp=XMP, lossless=True)
    assert b"EXIF" in source
    assert b"XMP " in source

    image = open_upload(source)

    assert image.info == {}
    assert_clean_jpeg(encode_jpeg(image))


def test_polyglot_jpeg_with_html_and_zip_trailer_is_neutralised() -> None:
    zip_member = b"PK\x03\x04" + b"\x00" * 26 + b"evil.js" + b"alert(1)"
    source = (
        encode(_pattern(), "JPEG", quality=95)
        + b"<html><script>alert(document.cookie)</script></html>"
        + zip_member
    )

    image = open_upload(source)
    clean = encode_jpeg(image)

    assert_clean_jpeg(clean)
    assert b"<script" not in clean
    assert b"PK\x03\x04" not in clean
    assert clean.endswith(b"\xff\xd9")


def test_png_with_trailing_data_is_neutralised() -> None:
    source = encode(_pattern(), "PNG") + b"<html><script>alert(1)</script></html>"

    clean = encode_jpeg(open_upload(source))

    assert_clean_jpeg(clean)
    assert b"<script" not in clean


# -- formats -----------------------------------------------------------------------------


def test_svg_named_jpg_is_rejected_naming_svg() -> None:
    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><script>alert(1)</script></svg>'
    )
    error = _rejection(svg)
    assert error.code == "format"
    assert str(error) == (
        "This file is not a photo we accept (found SVG). Upload "
        + ("JPEG, PNG, WebP, HEIC or AVIF." if AVIF_SUPPORTED else "JPEG, PNG, WebP or HEIC.")
    )


def test_html_named_jpg_is_rejected_naming_html() -> None:
    error = _rejection(b"<!DOCTYPE html>\n<html><body><img src=x onerror=alert(1)></body></html>")
    assert error.code == "format"
    assert "(found HTML)" in str(error)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (encode(_pattern(), "GIF"), "GIF"),
        (encode(_pattern(), "TIFF"), "TIFF or camera RAW"),
        (encode(_pattern(), "BMP"), "BMP"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"PK\x03\x04" + b"\x00" * 40, "ZIP archive"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 16, "video"),
    ],
    ids=["gif", "tiff", "bmp", "pdf", "zip", "mp4"],
)
def test_other_formats_are_rejected_by_content(data: bytes, found: str) -> None:
    error = _rejection(data)
    assert error.code == "format"
    assert f"(found {found})" in str(error)


def test_unknown_bytes_are_rejected_without_guessing_a_name() -> None:
    error = _rejection(bytes(range(256)) * 4)
    assert error.code == "format"
    assert "found" not in str(error)


def test_jpeg_signature_on_a_tiff_body_goes_only_to_the_jpeg_decoder() -> None:
    # A file that starts like a JPEG is decoded as a JPEG or refused, never handed to
    # another of Pillow's many parsers.
    error = _rejection(b"\xff\xd8\xff" + encode(_pattern(), "TIFF"))
    assert error.code in {"corrupt", "truncated"}


# -- limits ------------------------------------------------------------------------------


def test_empty_upload_is_rejected() -> None:
    error = _rejection(b"")
    assert error.code == "empty"
    assert str(error) == "The file is empty. Please choose the photo again."


def test_upload_over_max_bytes_is_rejected() -> None:
    source = encode(_pattern(), "PNG")
    error = _rejection(source, max_bytes=len(source) - 1)
    assert error.code == "too_large"
    assert "the limit is" in str(error)
    assert str(_rejection(bytes(3_400_000), max_bytes=2_000_000)) == (
        "The file is too large: 3.4 MB; the limit is 2 MB."
    )
    assert open_upload(source, max_bytes=len(source)).size == (64, 32)


def test_default_size_limit_applies(load_calls: list[str]) -> None:
    oversize = b"\xff\xd8\xff\xe0" + bytes(DEFAULT_MAX_BYTES)
    error = _rejection(oversize)
    assert error.code == "too_large"
    assert str(error) == "The file is too large: 50,000,004 bytes; the limit is 50,000,000."
    assert load_calls == []


def test_decompression_bomb_png_is_rejected_before_decoding(load_calls: list[str]) -> None:
    # 20000 x 20000 one-bit pixels: about 50 kB on disk, 400 MB once decoded.
    row = b"\x00" + bytes(20000 // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(20000)) + compressor.flush()
    bomb = png_bytes(20000, 20000, bit_depth=1, color_type=0, idat=idat)
    assert len(bomb) < 200_000

    error = _rejection(bomb)

    assert error.code == "too_many_pixels"
    assert str(error) == "The photo is too large: 400 megapixels; the limit is 60."
    assert load_calls == []


def test_108_megapixel_photo_is_rejected_with_its_size(load_calls: list[str]) -> None:
    header_only = png_bytes(12000, 9000)

    error = _rejection(header_only)

    assert error.code == "too_many_pixels"
    assert str(error) == "The photo is too large: 108 megapixels; the limit is 60."
    assert load_calls == []


def test_pillow_bomb_warning_is_an_error_even_with_a_higher_limit(
    load_calls: list[str],
) -> None:
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; the warning must still
    # stop the upload when the caller's own limit is generous.
    assert Image.MAX_IMAGE_PIXELS is not None
    assert Image.MAX_IMAGE_PIXELS < 12000 * 9000
    error = _rejection(png_bytes(12000, 9000), max_pixels=500_000_000)
    assert error.code == "too_many_pixels"
    assert str(error) == "The photo is too large: 108 megapixels; the limit is 89."
    assert load_calls == []


def test_pillow_bomb_error_reports_the_limit_that_applies(load_calls: list[str]) -> None:
    error = _rejection(png_bytes(20000, 20000), max_pixels=10**9)
    assert str(error) == "The photo is too large: 400 megapixels; the limit is 89."
    assert load_calls == []


def test_concurrent_uploads_leave_the_warnings_filters_alone() -> None:
    before = list(warnings.filters)
    uploads = [png_bytes(12000, 9000), encode(_pattern(), "PNG")] * 8

    def outcome(data: bytes) -> str:
        try:
            return open_upload(data).mode
        except RejectedImage as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(outcome, uploads))

    assert results == ["too_many_pixels", "RGB"] * 8
    assert warnings.filters == before


def test_pillow_warnings_filter_is_restored_after_a_rejection() -> None:
    before = list(warnings.filters)
    _rejection(png_bytes(12000, 9000))
    open_upload(encode(_pattern(), "PNG"))
    assert warnings.filters == before


def test_pixel_limit_does_not_rely_on_pillows_global(
    monkeypatch: pytest.MonkeyPatch, load_calls: list[str]
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    error = _rejection(png_bytes(8000, 8000))
    assert error.code == "too_many_pixels"
    assert str(error) == "The photo is too large: 64 megapixels; the limit is 60."
    assert load_calls == []


def test_pixel_counts_just_over_the_limit_are_not_rounded_away() -> None:
    error = _rejection(png_bytes(6001, 10000))
    assert str(error) == "The photo is too large: 60,010,000 pixels; the limit is 60,000,000."


def test_max_pixels_parameter_is_honoured() -> None:
    source = encode(_pattern((400, 300)), "JPEG")
    error = _rejection(source, max_pixels=100_000)
    assert error.code == "too_many_pixels"
    assert str(error) == "The photo is too large: 0.12 megapixels; the limit is 0.1."
    assert open_upload(source, max_pixels=120_000).size == (400, 300)


# -- broken files ------------------------------------------------------------------------


def test_truncated_png_is_rejected() -> None:
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    source = encode(noisy, "PNG")
    error = _rejection(source[: len(source) // 2])
    assert error.code == "truncated"


def test_truncated_jpeg_is_rejected() -> None:
    noisy = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8))
    source = encode(noisy, "JPEG", quality=95)
    error = _rejection(source[: len(source) * 2 // 3])
    assert error.code == "truncated"
    assert "cut off" in str(error)


def test_jpeg_header_followed_by_garbage_is_rejected() -> None:
    error = _rejection(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    assert error.code in {"corrupt", "truncated"}


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff",
        b"\x89PNG\r\n\x1a\n",
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", b"\x00" * 13),
        png_bytes(0, 10),
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 8,
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 8,
    ],
    ids=["jpeg-soi", "png-signature", "png-zero-ihdr", "png-zero-width", "webp", "heic", "avif"],
)
def test_headers_without_a_picture_are_rejected(data: bytes) -> None:
    error = _rejection(data)
    assert error.code in {"corrupt", "truncated", "format"}


def test_truncated_images_switch_stays_off() -> None:
    open_upload(encode(_pattern(), "PNG"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_uploads_refuse_to_run_with_truncated_images_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        open_upload(encode(_pattern(), "PNG"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg/>",
        png_bytes(12000, 9000),
        b"\xff\xd8\xff\xe0" + bytes(100),
        b"\x89PNG\r\n\x1a\n" + bytes(40),
    ],
    ids=["empty", "svg", "108mp", "jpeg-garbage", "png-garbage"],
)
def test_rejection_messages_are_plain_words(data: bytes) -> None:
    message = str(_rejection(data))
    assert message[0].isupper()
    assert message.endswith(".")
    for jargon in ("Errno", "PIL", "Traceback", "cannot identify", "<class", "0x", "b'"):
        assert jargon not in message


def test_rejected_image_is_a_value_error_with_a_code() -> None:
    error = _rejection(b"")
    assert isinstance(error, ValueError)
    assert error.code == "empty"
    assert error.message == str(error)


# -- frames ------------------------------------------------------------------------------


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (32, 24), colour) for colour in (RED, BLUE, (40, 200, 40))]


def _assert_colour(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 8) -> None:
    pixels = np.asarray(image, dtype=np.int16).reshape(-1, 3)
    assert np.abs(pixels - np.array(colour)).max() <= tolerance, pixels.mean(axis=0)


def test_animated_png_keeps_the_first_frame() -> None:
    first, *rest = _frames()
    source = encode(first, "PNG", save_all=True, append_images=rest)
    with Image.open(io.BytesIO(source)) as check:
        assert getattr(check, "n_frames", 1) == 3

    _assert_colour(open_upload(source), RED, tolerance=0)


def test_apng_keeps_the_default_image_outside_the_animation() -> None:
    default, *animation = _frames()
    source = encode(default, "PNG", save_all=True, append_images=animation, default_image=True)

    _assert_colour(open_upload(source), RED, tolerance=0)


def test_animated_webp_keeps_the_first_frame() -> None:
    first, *rest = _frames()
    source = encode(first, "WEBP", save_all=True, append_images=rest, lossless=True)
    with Image.open(io.BytesIO(source)) as check:
        assert getattr(check, "n_frames", 1) == 3

    _assert_colour(open_upload(source), RED, tolerance=2)


def test_second_mpo_image_never_appears() -> None:
    primary, gain_map, _ = _frames()
    source = encode(primary, "MPO", save_all=True, append_images=[gain_map], xmp=XMP)
    with Image.open(io.BytesIO(source)) as check:
        assert check.format == "MPO"
        assert getattr(check, "n_frames", 1) == 2

    image = open_upload(source)
    clean = encode_jpeg(image)

    _assert_colour(image, RED)
    out = assert_clean_jpeg(clean)
    _assert_colour(out, RED)


ULTRA_HDR_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" '
    b'hdrgm:Version="1.0"/></rdf:RDF></x:xmpmeta>'
)


def test_ultra_hdr_gain_map_never_appears() -> None:
    # Ultra HDR: an SDR JPEG whose XMP announces a gain map, stored as a second
    # (grayscale) JPEG that the MPF segment points at.
    primary = Image.new("RGB", (32, 24), RED)
    gain_map = Image.new("L", (8, 6), 200)
    source = encode(primary, "MPO", save_all=True, append_images=[gain_map], xmp=ULTRA_HDR_XMP)
    assert b"hdrgm:Version" in source
    assert b"MPF\x00" in source
    assert source.count(b"\xff\xd8\xff") == 2

    image = open_upload(source)
    clean = encode_jpeg(image)

    assert image.size == (32, 24)
    _assert_colour(image, RED)
    assert_clean_jpeg(clean)
    assert b"hdrgm" not in clean


def test_heif_keeps_the_primary_image_even_when_it_is_not_first() -> None:
    first, primary, last = _frames()
    source = encode(
        first, "HEIF", save_all=True, append_images=[primary, last], primary_index=1, quality=90
    )

    _assert_colour(open_upload(source), BLUE, tolerance=12)


# -- orientation -------------------------------------------------------------------------

TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
ORIENTED_FORMATS = ["JPEG", "PNG", "WEBP", "HEIF", *(["AVIF"] if AVIF_SUPPORTED else [])]


@pytest.mark.parametrize("fmt", ORIENTED_FORMATS)
@pytest.mark.parametrize("orientation", sorted(TRANSPOSE))
def test_exif_orientation_is_applied_exactly_once(fmt: str, orientation: int) -> None:
    source = _pattern()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(source, fmt, exif=exif.tobytes(), quality=95)

    image = open_upload(data)

    expected = source.transpose(TRANSPOSE[orientation])
    assert image.size == expected.size
    assert mean_abs_diff(image, expected) < 4


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_invalid_orientation_values_leave_the_picture_as_stored(value: int) -> None:
    source = _pattern()
    exif = Image.Exif()
    exif[0x0112] = value
    image = open_upload(encode(source, "PNG", exif=exif.tobytes()))
    assert mean_abs_diff(image, source) == 0


def test_heic_with_both_irot_and_exif_orientation_turns_once() -> None:
    source = _pattern()
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(source, "HEIF", exif=exif.tobytes(), quality=95)
    # The file carries the turn twice, like an iPhone's: as irot and in EXIF.
    assert b"irot" in data
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.info["original_orientation"] == 6

    image = open_upload(data)

    assert image.size == (32, 64)
    assert mean_abs_diff(image, source.transpose(Image.Transpose.ROTATE_270)) < 4


# -- colour ------------------------------------------------------------------------------


def _swatch() -> Image.Image:
    swatch = Image.new("RGB", (16, 8), (128, 128, 128))
    swatch.paste((100, 150, 100), (8, 0, 16, 8))
    return swatch


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_embedded_wide_gamut_profile_is_converted_to_srgb(fmt: str) -> None:
    params = {"lossless": True} if fmt == "WEBP" else {"quality": 100}
    data = encode(_swatch(), fmt, icc_profile=adobe_rgb_like_profile(), **params)

    image = open_upload(data)

    grey = image.getpixel((2, 2))
    green = image.getpixel((12, 2))
    assert isinstance(grey, tuple)
    assert isinstance(green, tuple)
    assert max(grey) - min(grey) <= 2
    # The same numbers mean a more saturated green in the wider space.
    assert green[1] - green[0] > 50 + 20
    assert green[0] < 90


def test_broken_icc_profile_falls_back_to_the_pixels_as_they_are() -> None:
    data = encode(_swatch(), "PNG", icc_profile=b"this is not a colour profile" * 8)
    assert mean_abs_diff(open_upload(data), _swatch()) == 0


def test_profile_for_other_pixels_is_ignored() -> None:
    data = encode(_swatch(), "PNG", icc_profile=gray_profile())
    assert mean_abs_diff(open_upload(data), _swatch()) == 0


def test_gray_photo_goes_through_its_gray_profile() -> None:
    # Near black, a gamma-2.2 gray and sRGB disagree enough to see the conversion.
    dark = Image.new("L", (8, 8), 10)
    tagged = open_upload(encode(dark, "PNG", icc_profile=gray_profile()))
    untagged = open_upload(encode(dark, "PNG"))
    assert untagged.getpixel((1, 1)) == (10, 10, 10)
    value = tagged.getpixel((1, 1))
    assert isinstance(value, tuple)
    assert len(set(value)) == 1
    assert 1 <= value[0] <= 5


def test_cmyk_jpeg_becomes_rgb() -> None:
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    image = open_upload(encode(cyan, "JPEG", quality=100))
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((8, 8))  # type: ignore[misc]
    assert red < 40
    assert green > 200
    assert blue > 200


# -- pixel modes -------------------------------------------------------------------------


def _mode_cases() -> dict[str, tuple[Callable[[], bytes], tuple[int, int, int]]]:
    def gray16() -> bytes:
        row = struct.pack(">4H", 0, 32896, 65535, 65535)
        return png_with_rows(4, 2, [row, row], bit_depth=16, color_type=0)

    def rgb16() -> bytes:
        row = struct.pack(">6H", 65535, 0, 32896, 65535, 0, 32896)
        return png_with_rows(2, 2, [row, row], bit_depth=16, color_type=2)

    def palette_transparent() -> bytes:
        image = Image.new("P", (8, 8), 0)
        image.putpalette([0, 0, 0, 200, 30, 40])
        return encode(image, "PNG", transparency=0)

    def rgba_half() -> bytes:
        return encode(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), "PNG")

    def la_clear() -> bytes:
        return encode(Image.new("LA", (8, 8), (0, 0)), "PNG")

    def gray() -> bytes:
        return encode(Image.new("L", (8, 8), 77), "PNG")

    def bilevel() -> bytes:
        return encode(Image.new("1", (8, 8), 1), "PNG")

    return {
        "gray16-scaled": (gray16, (128, 128, 128)),
        "rgb16": (rgb16, (255, 0, 128)),
        "palette-transparent-on-white": (palette_transparent, (255, 255, 255)),
        "rgba-on-white": (rgba_half, (255, 127, 127)),
        "la-on-white": (la_clear, (255, 255, 255)),
        "gray-as-rgb": (gray, (77, 77, 77)),
        "bilevel": (bilevel, (255, 255, 255)),
    }


@pytest.mark.parametrize("case", sorted(_mode_cases()))
def test_every_pixel_mode_becomes_8_bit_rgb(case: str) -> None:
    build, colour = _mode_cases()[case]

    image = open_upload(build())

    assert image.mode == "RGB"
    assert image.info == {}
    pixel = image.getpixel((1, 1))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, colour, strict=True)), pixel


def test_16_bit_gray_keeps_its_tones() -> None:
    row = struct.pack(">4H", 0, 32896, 65535, 65535)
    image = open_upload(png_with_rows(4, 1, [row], bit_depth=16, color_type=0))
    assert [image.getpixel((x, 0)) for x in range(3)] == [
        (0, 0, 0),
        (128, 128, 128),
        (255, 255, 255),
    ]
