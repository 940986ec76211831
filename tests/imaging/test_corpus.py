"""Every real photo of the test corpus comes out upright, sRGB and without metadata.

The corpus is tests/data/photos/ (see its SOURCES.md) unless PHOTOGATE_TEST_PHOTOS names a
fuller one; tests/support/photos.py finds it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from app.imaging import RejectedImage, encode_jpeg, open_upload
from tests.imaging.support import assert_clean_jpeg, mean_abs_diff
from tests.support.photos import MIN_PHOTOS, PHOTOS_DIR, photo_files, photo_path, sources_file

# Files the corpus documents as undecodable, and why they must be refused.
EXPECTED_REJECTIONS = {"pil_truncated_jpeg.jpg": "truncated"}


def _upright_sizes() -> dict[str, tuple[int, int]]:
    """'After Orientation' column of SOURCES.md: the size a correct decoder shows."""
    sizes = {}
    row = re.compile(r"^\| `([^`]+)` \|(?:[^|]*\|){4} (\d+)x(\d+) \|")
    for line in sources_file().read_text(encoding="utf-8").splitlines():
        if match := row.match(line):
            sizes[match[1]] = (int(match[2]), int(match[3]))
    return sizes


UPRIGHT = _upright_sizes()


def _open(name: str) -> Image.Image:
    return open_upload(photo_path(name).read_bytes())


def test_the_corpus_is_there() -> None:
    # Without it every parametrised test below would silently vanish.
    assert len(photo_files()) >= MIN_PHOTOS, f"photo corpus incomplete at {PHOTOS_DIR}"


def test_the_corpus_lists_upright_sizes_for_most_files() -> None:
    # Guards the parser above: if SOURCES.md changes shape the size checks must not
    # silently stop checking anything.
    assert len(UPRIGHT) >= len(photo_files()) - 2


@pytest.mark.parametrize("path", photo_files(), ids=lambda p: p.name)
def test_photo_opens_clean_or_is_rejected_with_a_reason(path: Path) -> None:
    data = path.read_bytes()
    if path.name in EXPECTED_REJECTIONS:
        with pytest.raises(RejectedImage) as caught:
            open_upload(data)
        assert caught.value.code == EXPECTED_REJECTIONS[path.name]
        assert "upload it again" in str(caught.value)
        return

    image = open_upload(data)

    assert image.mode == "RGB"
    assert image.info == {}
    assert len(image.getexif()) == 0
    if path.name in UPRIGHT:
        assert image.size == UPRIGHT[path.name]
    encoded = encode_jpeg(image)
    decoded = assert_clean_jpeg(encoded)
    assert decoded.size == image.size
    # The re-encoded picture is the same picture, not some embedded thumbnail.
    assert mean_abs_diff(decoded.resize((64, 64)), image.resize((64, 64))) < 4


def test_truncated_jpeg_is_rejected_as_cut_off() -> None:
    with pytest.raises(RejectedImage) as caught:
        _open("pil_truncated_jpeg.jpg")
    assert caught.value.code == "truncated"
    assert str(caught.value) == (
        "The photo is cut off (the file is incomplete). Please upload it again."
    )


@pytest.mark.parametrize(
    "rotated", ["ori_Landscape_3.jpg", "ori_Landscape_6.jpg", "ori_Landscape_8.jpg"]
)
def test_orientation_examples_all_come_out_the_same_way_up(rotated: str) -> None:
    reference = _open("ori_Landscape_0.jpg")
    image = _open(rotated)

    assert image.size == reference.size == (1800, 1200)
    small_ref = reference.resize((90, 60), Image.Resampling.BOX)
    small = image.resize((90, 60), Image.Resampling.BOX)
    # The files differ only in the painted digit; a wrong turn moves the waterfall.
    same_way = mean_abs_diff(small, small_ref)
    upside_down = mean_abs_diff(small.transpose(Image.Transpose.ROTATE_180), small_ref)
    assert same_way < 6
    assert upside_down > 3 * same_way


def test_heic_with_exif_orientation_and_irot_is_turned_exactly_once() -> None:
    # Stored 4032x3024 with irot 270 and EXIF Orientation 6: one turn gives portrait,
    # two turns would give landscape again.
    image = _open("exs_iphone_13_pro_max.HEIC")
    assert image.size == (3024, 4032)


def test_mpo_second_frame_never_appears() -> None:
    data = photo_path("pil_sugarshack.mpo").read_bytes()
    with Image.open(io.BytesIO(data)) as source:
        assert getattr(source, "n_frames", 1) == 2
        source.seek(0)
        first = source.convert("RGB")
        source.seek(1)
        second = source.convert("RGB")
    assert data.count(b"\xff\xd8\xff") >= 2

    encoded = encode_jpeg(open_upload(data))

    out = assert_clean_jpeg(encoded)
    assert b"MPF" not in encoded[:2048]
    assert mean_abs_diff(out, first) < mean_abs_diff(out, second)


def test_gps_in_xmp_only_is_gone_too() -> None:
    data = photo_path("mei_Nokia Lumia 800.jpg").read_bytes()
    # The source really carries the location in XMP as well as in EXIF.
    assert b"exif:GPSLatitude" in data or b"GPSLatitude" in data
    assert b"<x:xmpmeta" in data

    encoded = encode_jpeg(open_upload(data))

    assert_clean_jpeg(encoded)
    assert b"GPSLatitude" not in encoded
    assert b"xmpmeta" not in encoded


def test_png_exif_orientation_after_idat_is_applied() -> None:
    path = photo_path("pil_exif_imagemagick_orientation.png")
    with Image.open(path) as source:
        stored = source.convert("RGB")
    image = open_upload(path.read_bytes())
    assert mean_abs_diff(image, stored.transpose(Image.Transpose.ROTATE_180)) < 1
