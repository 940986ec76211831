"""Blobs as files under one directory (``var/blobs`` in the embedded default)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Final

from app.storage.base import fanout
from app.storage.errors import BlobNotFoundError

_DIR_MODE: Final = 0o700
_FILE_MODE: Final = 0o600
_TEMP_PREFIX: Final = ".tmp-"  # never a valid blob name, so half-written files are never read


def _fsync_directory(directory: Path) -> None:
    # Without this a crash right after os.replace can lose the new directory entry even
    # though the file contents were synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Files named by their hex blob name, fanned out as ``ab/cd/abcd…``.

    Writes go to a temporary file in the target directory, are fsynced and then renamed
    over the old file, so a reader sees either the old blob or the new one, never half.
    Directories are created 0700 and files 0600.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path_for(self, name: str) -> Path:
        """Where the blob named ``name`` lives (the name is validated first)."""
        first, second, leaf = fanout(name)
        return self.root / first / second / leaf

    def _ensure_directory(self, directory: Path) -> None:
        # mkdir(parents=True) ignores the mode for the parents it creates, so each level
        # is made explicitly; an existing root (e.g. a mounted volume) is left as it is.
        for level in (self.root, directory.parent, directory):
            with contextlib.suppress(FileExistsError):
                level.mkdir(mode=_DIR_MODE, parents=level == self.root)

    def put(self, name: str, data: bytes) -> None:
        """Atomically write ``data`` (fsynced) under ``name``, replacing any old blob."""
        path = self.path_for(name)
        directory = path.parent
        self._ensure_directory(directory)
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), _FILE_MODE)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_directory(directory)

    def get(self, name: str) -> bytes:
        """The stored bytes; :class:`BlobNotFoundError` if absent."""
        path = self.path_for(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(name) from None

    def delete(self, name: str) -> None:
        """Remove the file if present."""
        self.path_for(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        """Whether the blob's file exists."""
        return self.path_for(name).is_file()

    def sweep_temporary(self, older_than: float) -> int:
        """Delete temporary files left by writes that never finished (a process killed
        mid-write) and last touched more than ``older_than`` seconds ago; returns how many.

        They are never read (their names are not blob names); this only frees the space.
        A write in progress is younger than any sensible ``older_than``.
        """
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in self.root.glob(f"*/*/{_TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed
