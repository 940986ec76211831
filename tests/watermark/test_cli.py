"""The ``photogate watermark`` commands, driven through click's test runner."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from _wm_support import KEY, synthetic_photo
from click.testing import CliRunner
from PIL import Image

from app.commands.watermark import watermark


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "wm.key"
    path.write_bytes(KEY)
    return path


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    synthetic_photo(1280, 960, seed=3).save(path)
    return path


def test_keygen_writes_a_private_random_key(runner: CliRunner, tmp_path: Path) -> None:
    a, b = tmp_path / "a.key", tmp_path / "b.key"
    assert runner.invoke(watermark, ["keygen", "--out", str(a)]).exit_code == 0
    assert runner.invoke(watermark, ["keygen", "--out", str(b)]).exit_code == 0
    assert len(a.read_bytes()) >= 32
    assert a.read_bytes() != b.read_bytes()
    assert stat.S_IMODE(a.stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite(runner: CliRunner, key_file: Path) -> None:
    result = runner.invoke(watermark, ["keygen", "--out", str(key_file)])
    assert result.exit_code != 0
    assert "refusing to overwrite" in result.output
    assert key_file.read_bytes() == KEY


def test_embed_then_extract_round_trip(
    runner: CliRunner, key_file: Path, photo_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "marked.jpg"
    result = runner.invoke(
        watermark,
        ["embed", "--key-file", str(key_file), "--payload", "31337", str(photo_file), str(out)],
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as saved:
        assert saved.format == "JPEG"
        assert saved.size == (1280, 960)
    result = runner.invoke(watermark, ["extract", "--key-file", str(key_file), str(out)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["payload"] == 31337
    assert answer["method"] == "blind"
    assert set(answer) == {"payload", "confidence", "method"}


def test_embed_png_output_follows_the_extension(
    runner: CliRunner, key_file: Path, photo_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "marked.png"
    args = ["embed", "--key-file", str(key_file), "--payload", "5", str(photo_file), str(out)]
    assert runner.invoke(watermark, args).exit_code == 0
    with Image.open(out) as saved:
        assert saved.format == "PNG"


def test_informed_extract_reports_method(
    runner: CliRunner, key_file: Path, photo_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "marked.jpg"
    runner.invoke(
        watermark,
        ["embed", "--key-file", str(key_file), "--payload", "77", str(photo_file), str(out)],
    )
    with Image.open(out) as marked:
        marked.crop((300, 200, 900, 700)).save(tmp_path / "crop.jpg", quality=85)
    result = runner.invoke(
        watermark,
        [
            "extract",
            "--key-file",
            str(key_file),
            "--original",
            str(photo_file),
            str(tmp_path / "crop.jpg"),
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer == {"payload": 77, "confidence": answer["confidence"], "method": "informed"}


def test_unmarked_photo_prints_null(runner: CliRunner, key_file: Path, photo_file: Path) -> None:
    result = runner.invoke(watermark, ["extract", "--key-file", str(key_file), str(photo_file)])
    assert result.exit_code == 0
    assert json.loads(result.output)["payload"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not an image at all", "cannot read image"), (b"\xff\xd8\xff\xe0" + b"\0" * 40, "cannot")],
)
def test_bad_input_file_is_a_clean_error(
    runner: CliRunner, key_file: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    for args in (
        ["embed", "--key-file", str(key_file), "--payload", "1", str(bad), str(tmp_path / "o.jpg")],
        ["extract", "--key-file", str(key_file), str(bad)],
    ):
        result = runner.invoke(watermark, args)
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )
    assert not (tmp_path / "o.jpg").exists()


def test_missing_file_and_short_key_are_clean_errors(
    runner: CliRunner, key_file: Path, photo_file: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        watermark, ["extract", "--key-file", str(key_file), str(tmp_path / "nope.jpg")]
    )
    assert result.exit_code != 0
    assert "no such file" in result.output
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    result = runner.invoke(watermark, ["extract", "--key-file", str(short), str(photo_file)])
    assert result.exit_code != 0
    assert "at least 32" in result.output


def test_too_small_image_and_bad_payload_are_clean_errors(
    runner: CliRunner, key_file: Path, tmp_path: Path, photo_file: Path
) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (50, 33)).save(tiny)
    result = runner.invoke(
        watermark,
        [
            "embed",
            "--key-file",
            str(key_file),
            "--payload",
            "1",
            str(tiny),
            str(tmp_path / "o.png"),
        ],
    )
    assert result.exit_code != 0
    assert "at least 128x128" in result.output
    result = runner.invoke(
        watermark,
        [
            "embed",
            "--key-file",
            str(key_file),
            "--payload",
            str(2**32),
            str(photo_file),
            str(tmp_path / "o.png"),
        ],
    )
    assert result.exit_code != 0
    assert "--payload" in result.output
    assert not (tmp_path / "o.png").exists()
