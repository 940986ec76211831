"""Where the tests find real photos: every test reads them through this module.

By default that is the corpus kept in the repository, ``tests/data/photos/`` (see its
SOURCES.md). ``PHOTOGATE_TEST_PHOTOS`` points the same tests at a fuller corpus that holds
at least the same files under the same names. A photo a test names that is not there fails
the test; it is never skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PHOTOGATE_TEST_PHOTOS"
REPO_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
# Rendered photos with near-periodic texture; always the repository's own.
TEXTURED_DIR = REPO_PHOTOS / "textured"
# How many photos the repository's corpus holds: a fuller corpus has at least as many.
MIN_PHOTOS = 28
# Files that describe the corpus rather than being part of it.
_NOT_PHOTOS = frozenset({".md", ".tsv"})


def _photos_dir() -> Path:
    configured = os.environ.get(ENV_VAR, "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_PHOTOS


PHOTOS_DIR = _photos_dir()


def photo_path(name: str) -> Path:
    """The photo called ``name``; FileNotFoundError (a failure, not a skip) if it is missing."""
    path = PHOTOS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"test photo {name!r} is not in {PHOTOS_DIR} "
            f"(the repository's corpus is {REPO_PHOTOS}; {ENV_VAR} selects another)"
        )
    return path


def photo_files() -> list[Path]:
    """Every photo of the corpus, sorted by name (not SOURCES.md, not sub-folders)."""
    if not PHOTOS_DIR.is_dir():
        raise FileNotFoundError(f"test photo corpus {PHOTOS_DIR} does not exist ({ENV_VAR})")
    return sorted(
        path
        for path in PHOTOS_DIR.iterdir()
        if path.is_file() and path.suffix.lower() not in _NOT_PHOTOS
    )


def sources_file() -> Path:
    """The corpus's SOURCES.md, which lists each photo's upright size."""
    return photo_path("SOURCES.md")
