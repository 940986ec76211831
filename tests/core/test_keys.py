"""Keys: one file format for every secret, rotation that keeps old keys readable, and the
re-wrapping of photo keys after a key-encryption key is rotated."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flask import Flask
from PIL import Image
from sqlalchemy.orm import Session

from app.commands.keys import keys as keys_group
from app.commands.watermark import watermark
from app.config import Settings, read_secret_file
from app.keys import WatermarkKeys, watermark_key_id
from app.photos.blobs import ORIGINAL, make_blobs
from app.photos.models import Photo
from app.storage import UnknownKeyError, fingerprint, wrapped_key_id
from app.web.context import runtime
from tests.factories import make_photo


def _picture(size: int = 640, seed: int = 5) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 210, size)[None, :, None] + rng.normal(0, 25, (size, size, 3))
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def test_keygen_writes_the_format_the_settings_read(tmp_path: Path) -> None:
    """A key made by `photogate watermark keygen` is the key the server uses when
    PHOTOGATE_WATERMARK_KEY_FILE names it: marks made on the command line read in the app."""
    key_file = tmp_path / "watermark.key"
    runner = CliRunner()
    assert runner.invoke(watermark, ["keygen", "--out", str(key_file)]).exit_code == 0
    text = key_file.read_text()
    assert len(text.strip()) == 64
    int(text.strip(), 16)  # hex digits

    settings = Settings(
        env="test", var_dir=tmp_path / "var", secret_files={"watermark_key": key_file}
    )
    loaded = settings.load_secrets().watermark_key
    assert loaded == read_secret_file(key_file)

    source, marked = tmp_path / "in.png", tmp_path / "out.png"
    _picture().save(source)
    embed = runner.invoke(
        watermark,
        ["embed", "--key-file", str(key_file), "--payload", "4242", str(source), str(marked)],
    )
    assert embed.exit_code == 0, embed.output
    found = WatermarkKeys(loaded).keyring.extract(Image.open(marked))
    assert found.payload == 4242
    assert found.key_version == watermark_key_id(loaded)


def _reload(app: Flask) -> None:
    """What a restart does: read the key files again."""
    held = runtime(app)
    held.secrets = held.settings.load_secrets()
    held.blobs = make_blobs(held.settings, held.secrets)
    held.watermarks = WatermarkKeys.from_secrets(held.secrets)


def _stored_photo(app: Flask, session: Session, data: bytes) -> Photo:
    blobs = runtime(app).blobs
    key = blobs.new_data_key()
    photo = make_photo(session, wrapped_key=key.wrapped)
    blobs.put(photo.id, ORIGINAL, data, key)
    session.commit()
    return photo


def test_kek_rotation_keeps_photos_readable_and_rewrap_moves_them(
    app: Flask, session: Session
) -> None:
    runner = app.test_cli_runner()
    settings = runtime(app).settings
    old_kek = runtime(app).secrets.kek
    photo = _stored_photo(app, session, b"original bytes")
    old_wrapped = bytes(photo.wrapped_key or b"")
    assert wrapped_key_id(old_wrapped) == fingerprint(old_kek)

    rotated = runner.invoke(keys_group, ["rotate", "kek"])
    assert rotated.exit_code == 0, rotated.output
    new_kek = read_secret_file(settings.secret_files["kek"])
    assert new_kek != old_kek
    retired = settings.retired_key_dirs["kek"] / f"{fingerprint(old_kek)}.key"
    assert read_secret_file(retired) == old_kek
    _reload(app)

    # The old key still opens the photo until it is re-wrapped.
    assert runtime(app).blobs.get(photo.id, ORIGINAL, photo.wrapped_key or b"") == b"original bytes"
    status = runner.invoke(keys_group, ["status"]).output
    assert f"{fingerprint(old_kek)} (retired): wraps 1 photo keys" in status

    rewrapped = runner.invoke(keys_group, ["rewrap"])
    assert rewrapped.exit_code == 0, rewrapped.output
    assert "1 photo keys re-wrapped" in rewrapped.output
    session.expire_all()
    refreshed = session.get(Photo, photo.id)
    assert refreshed is not None
    assert wrapped_key_id(refreshed.wrapped_key or b"") == fingerprint(new_kek)

    # Once re-wrapped, the retired KEK can go: the photo opens with the new one alone.
    retired.unlink()
    _reload(app)
    blobs = runtime(app).blobs
    assert blobs.get(refreshed.id, ORIGINAL, refreshed.wrapped_key or b"") == b"original bytes"
    with pytest.raises(UnknownKeyError):
        blobs.open_key(old_wrapped)


def test_watermark_rotation_keeps_old_marks_readable(app: Flask) -> None:
    old = runtime(app).watermarks
    buffer = io.BytesIO()
    old.current().embed(_picture(), 777).save(buffer, "PNG")

    rotated = app.test_cli_runner().invoke(keys_group, ["rotate", "watermark"])
    assert rotated.exit_code == 0, rotated.output
    _reload(app)
    marks = runtime(app).watermarks
    assert marks.current_id != old.current_id
    assert marks.versions == [marks.current_id, old.current_id]
    found = marks.keyring.extract(Image.open(io.BytesIO(buffer.getvalue())))
    assert found.payload == 777
    assert found.key_version == old.current_id
