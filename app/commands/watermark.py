"""``photogate watermark``: make keys, mark a photo, read a suspect copy (no Flask needed)."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import click
from PIL import Image, ImageOps, UnidentifiedImageError

from app.config import ConfigError, read_secret_file, write_secret_file
from app.watermark import Extraction, Keyring, Watermarker, WatermarkError

KEY_BYTES = 32
JPEG_QUALITY = 92
_JPEG_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif"}


def _register_heif() -> None:
    # HEIC/AVIF from phones: optional at runtime, so the command still works without it.
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - it is a project dependency
        return
    pillow_heif.register_heif_opener()


def _read_key(path: Path) -> bytes:
    try:
        return read_secret_file(path)
    except ConfigError as error:
        raise click.ClickException(f"watermark key: {error}") from None


def _open_image(path: Path) -> Image.Image:
    """Decode fully (EXIF orientation applied) or fail with a message, never a traceback."""
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Corrupt EXIF blocks only warn; the pixels may still be fine.
            warnings.simplefilter("ignore")
            with Image.open(path) as opened:
                opened.load()
                image = ImageOps.exif_transpose(opened)
                image.load()
                return image.copy()
    except FileNotFoundError:
        raise click.ClickException(f"no such file: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise click.ClickException(f"cannot read image {path}: {error}") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise click.ClickException(f"cannot decode image {path}: {error}") from None


def _save(image: Image.Image, path: Path) -> None:
    """Write atomically: a failed save never leaves a half-written file at `path`."""
    suffix = path.suffix.lower()
    options: dict[str, object] = {}
    if suffix in _JPEG_SUFFIXES:
        options = {"format": "JPEG", "quality": JPEG_QUALITY, "subsampling": "4:2:0"}
    else:
        known = Image.registered_extensions()
        if suffix not in known:
            raise click.ClickException(f"cannot tell the image format from the name {path.name!r}")
        options = {"format": known[suffix]}
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".wm-", suffix=suffix, dir=directory)
    except OSError as error:
        raise click.ClickException(
            f"cannot write to {directory}: {error.strerror or error}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, **options)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except (OSError, ValueError, KeyError) as error:
        Path(tmp).unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {path}: {error}") from None


@click.group("watermark")
def watermark() -> None:
    """Invisible watermarks that name the download a photo came from."""


@watermark.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def keygen(out: Path) -> None:
    """Write a new random watermark key to OUT (mode 0600; never overwrites).

    The file has the format of every PhotoGate secret (64 hex digits), so it can be named
    by PHOTOGATE_WATERMARK_KEY_FILE as it is.
    """
    try:
        created = write_secret_file(out)
    except OSError as error:
        raise click.ClickException(f"cannot create {out}: {error.strerror or error}") from None
    if not created:
        raise click.ClickException(f"{out} already exists; refusing to overwrite a key")
    click.echo(f"wrote a {KEY_BYTES}-byte watermark key to {out}")


@watermark.command("embed")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--payload", required=True, type=int, help="Download id to embed.")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def embed(key_file: Path, payload: int, source: Path, target: Path) -> None:
    """Mark SOURCE with PAYLOAD and write TARGET (JPEG q92 for .jpg/.jpeg)."""
    marker = _marker(key_file)
    if not 0 <= payload < 2**marker.payload_bits:
        raise click.BadParameter(
            f"must be in [0, 2**{marker.payload_bits})", param_hint="'--payload'"
        )
    image = _open_image(source)
    try:
        marked = marker.embed(image, payload)
    except WatermarkError as error:
        raise click.ClickException(f"{source}: {error}") from None
    _save(marked, target)


def _marker(key_file: Path) -> Watermarker:
    try:
        return Watermarker(_read_key(key_file))
    except WatermarkError as error:
        raise click.ClickException(str(error)) from None


@watermark.command("extract")
@click.option(
    "--key-file",
    "key_files",
    required=True,
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key to try; repeat for every kept key version.",
)
@click.option("--original", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.argument("suspect", type=click.Path(dir_okay=False, path_type=Path))
def extract(key_files: tuple[Path, ...], original: Path | None, suspect: Path) -> None:
    """Read the payload from SUSPECT; print one JSON object."""
    try:
        ring = Keyring({str(path): _read_key(path) for path in key_files})
    except WatermarkError as error:
        raise click.ClickException(str(error)) from None
    suspect_image = _open_image(suspect)
    original_image = _open_image(original) if original is not None else None
    try:
        found: Extraction = ring.extract(suspect_image, original=original_image)
    except WatermarkError as error:
        raise click.ClickException(f"{suspect}: {error}") from None
    click.echo(
        json.dumps(
            {
                "payload": found.payload,
                "confidence": round(found.confidence, 4),
                "method": found.method,
            }
        )
    )
