"""The feature index of a scope, built once and kept as memory-mapped files.

Building the vote table of 10,000 twelve-megapixel photos (about 19 million points) takes
tens of seconds and gigabytes; doing it in every web process, at the first search after a
start or after new photos, made that search slow and multiplied the memory by the
processes. Here it is built once per version of the scope's rows — by housekeeping, after
photos are processed, or by the first search that finds none — and saved under
``var/index/`` as ``.npy`` files. Every process maps the same files: the operating system
shares their pages, and a search reads only the pages its lookups touch.

A version is named by a digest of the scope's row count, newest row time, newest and
summed photo ids: any photo added, removed or re-indexed makes a new one. The directory is
written under a temporary name and renamed into place, so a reader never sees half of it;
older versions of the scope are deleted once a newer one is in place (a process still
mapping one keeps its pages until it lets go).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from app.investigate.features import Index

logger = logging.getLogger(__name__)

_DONE = "complete"


def version_name(scope: str, stamp: Sequence[object]) -> str:
    digest = hashlib.sha256(repr(tuple(stamp)).encode()).hexdigest()[:20]
    return f"{scope}-{digest}"


def has_version(directory: Path, scope: str, stamp: Sequence[object]) -> bool:
    """Whether the scope's index at exactly this version has its files in place."""
    return (directory / version_name(scope, stamp) / _DONE).exists()


def newest_version(directory: Path, scope: str) -> tuple[Index, str] | None:
    """The scope's newest complete version and the time of its newest row (ISO), if any:
    what a search uses while housekeeping has not yet built the version with the newest
    photos in it."""
    if not directory.is_dir():
        return None
    complete = [
        entry
        for entry in directory.iterdir()
        if entry.name.startswith(f"{scope}-") and (entry / _DONE).exists()
    ]
    if not complete:
        return None
    newest = max(complete, key=lambda entry: (entry / _DONE).stat().st_mtime)
    return Index.load(newest), (newest / _DONE).read_text().strip()


def cached_index(
    directory: Path,
    scope: str,
    stamp: Sequence[object],
    build: Callable[[], Index],
    *,
    newest_row: Callable[[], str] = lambda: "",
) -> Index:
    """The scope's index at this version: mapped from disk, or built, saved and mapped.

    ``newest_row`` (asked only when building: the time of the version's newest row) is
    kept with the files, so a search that finds only this version later can add the rows
    made since.
    """
    name = version_name(scope, stamp)
    final = directory / name
    if (final / _DONE).exists():
        return Index.load(final)
    index = build()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = directory / f".{name}.{secrets.token_hex(4)}"
    try:
        index.save(temporary)
        (temporary / _DONE).write_text(newest_row())
        try:
            os.rename(temporary, final)
        except OSError:
            # Another process put the same version in place first: use theirs.
            shutil.rmtree(temporary, ignore_errors=True)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        logger.exception("the feature index of %s could not be saved; using it in memory", scope)
        return index
    _forget_older(directory, scope, keep=name)
    return Index.load(final)


def _forget_older(directory: Path, scope: str, *, keep: str) -> None:
    for entry in directory.iterdir():
        if entry.name != keep and entry.name.startswith(f"{scope}-") and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
