"""The interface every blob store implements, and the blob-name rules they share."""

from __future__ import annotations

import re
from typing import Final, Protocol, runtime_checkable

from app.storage.errors import InvalidBlobNameError

# At least 128 bits, so names cannot be guessed; hex only, so a name can never contain a
# path separator, a dot or anything a filesystem or an object store treats specially.
_NAME: Final = re.compile(r"[0-9a-f]{32,128}")


def validate_blob_name(name: str) -> str:
    """Return ``name`` if it is 32 to 128 lowercase hex characters, else raise."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        msg = f"invalid blob name {name!r}: expected 32 to 128 lowercase hex characters"
        raise InvalidBlobNameError(msg)
    return name


def fanout(name: str) -> tuple[str, str, str]:
    """Two directory levels and the file name, so no directory grows past 256 entries."""
    valid = validate_blob_name(name)
    return valid[0:2], valid[2:4], valid


@runtime_checkable
class BlobStore(Protocol):
    """Opaque bytes under opaque hex names. Implementations never see plaintext photos."""

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` (replacing it); all or nothing."""

    def get(self, name: str) -> bytes:
        """The stored bytes; :class:`BlobNotFoundError` if there are none."""
        ...

    def delete(self, name: str) -> None:
        """Remove the blob; deleting a missing blob is not an error."""

    def exists(self, name: str) -> bool:
        """Whether a blob is stored under ``name``."""
        ...
