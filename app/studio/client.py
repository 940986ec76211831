"""The upload tool's side of the studio API: folders of thousands of photos, resumable.

It runs on the photographer's computer and talks HTTP to the JSON API with an API token;
it never touches the database or the keys.  Before uploading, it asks the server which
SHA-256s the event already has and skips those, so running it again after an interruption
(or to add new files) only sends what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import requests

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".avif", ".mpo"}
)
LOOKUP_BATCH: Final = 500
#: Tries per call: with back-off (and the server's Retry-After) they span a few minutes,
#: long enough to ride out a database restart or a Redis outage.
ATTEMPTS: Final = 8
#: The longest single pause between tries, in seconds.
MAX_PAUSE: Final = 60.0
_CHUNK: Final = 1 << 20
# Connection errors and these answers are worth another try; everything else is final.
_TRANSIENT: Final = frozenset({429, 502, 503, 504})


class ClientError(Exception):
    """The server refused the whole job (bad token, unknown event); the message says why."""


@dataclass(frozen=True)
class FileResult:
    path: Path
    #: "uploaded", "skipped", "duplicate", "rejected", "retried" or "error"
    outcome: str
    message: str = ""
    photo_id: int | None = None


@dataclass
class UploadReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not any(r.outcome in {"rejected", "error"} for r in self.results)

    def summary(self) -> str:
        parts = [
            f"{self.count(outcome)} {outcome}"
            for outcome in ("uploaded", "skipped", "duplicate", "retried", "rejected", "error")
            if self.count(outcome)
        ]
        return f"{len(self.results)} files: " + (", ".join(parts) or "nothing to do")


def find_photos(directory: Path) -> list[Path]:
    """Photo files under ``directory`` (recursively), hidden files and folders left out."""
    found = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
            found.append(path)
    return sorted(found)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StudioClient:
    """A thin, retrying client of ``/api/studio``; one HTTP session per thread."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 300.0,
        language: str | None = None,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.backoff = backoff
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if language:
            self._headers["Accept-Language"] = language
        self._local = threading.local()

    def _http(self) -> requests.Session:
        http: requests.Session | None = getattr(self._local, "http", None)
        if http is None:
            http = requests.Session()
            http.headers.update(self._headers)
            self._local.http = http
        return http

    def _pause(self, attempt: int, response: requests.Response | None) -> float:
        """Exponential back-off, or longer when the server asks for it (Retry-After on a
        503 during an outage, on a 429), never more than MAX_PAUSE seconds."""
        pause = self.backoff * 2 ** (attempt - 1)
        asked = response.headers.get("Retry-After", "") if response is not None else ""
        if asked.isascii() and asked.isdigit():
            pause = max(pause, float(asked))
        return float(min(pause, MAX_PAUSE))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call, tried again on connection errors, outages (503) and overload;
        raises ClientError on answers that concern the whole job (401, 403, 404)."""
        url = f"{self.base_url}/api/studio{path}"
        response: requests.Response | None = None
        for attempt in range(1, ATTEMPTS + 1):
            rewind = kwargs.get("files")
            if rewind:
                for _name, (_filename, handle) in rewind.items():
                    handle.seek(0)
            try:
                response = self._http().request(method, url, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as error:
                response = None
                if attempt == ATTEMPTS:
                    raise ClientError(f"cannot reach {self.base_url}: {error}") from None
            except requests.Timeout:
                response = None
                if attempt == ATTEMPTS:
                    raise ClientError(f"{self.base_url} did not answer in time") from None
            else:
                if response.status_code not in _TRANSIENT or attempt == ATTEMPTS:
                    break
            time.sleep(self._pause(attempt, response))
        if response is None:  # pragma: no cover - the loop ends with an answer or raises
            raise ClientError(f"no answer from {self.base_url}")
        if response.status_code in (401, 403, 404):
            raise ClientError(_message(response))
        return response

    def event(self, event_id: int) -> dict[str, Any]:
        response = self.request("GET", f"/events/{event_id}")
        _raise_for(response)
        body: dict[str, Any] = response.json()
        return body

    def known(self, event_id: int, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Which of ``hashes`` the event already has: ``{sha256: {"id", "status"}}``."""
        known: dict[str, dict[str, Any]] = {}
        for batch in _batches(sorted(set(hashes)), LOOKUP_BATCH):
            response = self.request("POST", f"/events/{event_id}/lookup", json={"sha256": batch})
            _raise_for(response)
            known.update(response.json()["known"])
        return known

    def upload(self, event_id: int, path: Path, album_id: int | None = None) -> FileResult:
        data = {"album_id": str(album_id)} if album_id is not None else {}
        with path.open("rb") as handle:
            response = self.request(
                "POST", f"/events/{event_id}/photos", files={"file": (path.name, handle)}, data=data
            )
        body = _json(response)
        if response.status_code == 201:
            return FileResult(path, "uploaded", photo_id=body.get("photo", {}).get("id"))
        if response.status_code == 200 and body.get("result") == "duplicate":
            return FileResult(path, "duplicate", body.get("reason", ""), body["photo"]["id"])
        if response.status_code in (413, 422):
            return FileResult(path, "rejected", _message(response))
        return FileResult(path, "error", _message(response))

    def retry(self, photo_id: int) -> None:
        _raise_for(self.request("POST", f"/photos/{photo_id}/retry"))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: requests.Response) -> str:
    body = _json(response)
    text = body.get("reason") or body.get("message") or body.get("error")
    return str(text) if text else f"HTTP {response.status_code}"


def _raise_for(response: requests.Response) -> None:
    if response.status_code >= 400:
        raise ClientError(_message(response))


def upload_directory(
    client: StudioClient,
    event_id: int,
    directory: Path,
    *,
    album_id: int | None = None,
    jobs: int = 2,
    retry_failed: bool = False,
    on_result: Callable[[FileResult], None] = lambda _result: None,
) -> UploadReport:
    """Upload every photo under ``directory`` that the event does not have yet."""
    client.event(event_id)  # fails early on a bad token or an unknown event
    report = UploadReport()
    files = find_photos(directory)
    hashes = {path: sha256_file(path) for path in files}
    known = client.known(event_id, hashes.values())

    def record(result: FileResult) -> None:
        report.results.append(result)
        on_result(result)

    todo = []
    for path in files:
        seen = known.get(hashes[path])
        if seen is None:
            todo.append(path)
        elif retry_failed and seen["status"] == "failed":
            try:
                client.retry(int(seen["id"]))
                record(FileResult(path, "retried", photo_id=int(seen["id"])))
            except ClientError as error:
                record(FileResult(path, "error", str(error), int(seen["id"])))
        else:
            record(FileResult(path, "skipped", seen["status"], int(seen["id"])))

    def send(path: Path) -> FileResult:
        try:
            return client.upload(event_id, path, album_id)
        except (ClientError, OSError) as error:
            return FileResult(path, "error", str(error))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(send, todo):
            record(result)
    return report
