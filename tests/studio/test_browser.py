"""The upload page in a real headless Chromium: drag and drop, progress, per-file results."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.sessions import start_session
from app.db import utcnow
from app.jobs import JobQueue
from app.photos.models import Photo, PhotoStatus
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.conftest import LiveServer
from tests.factories import make_event, make_staff
from tests.studio.support import photo_bytes

pytestmark = pytest.mark.browser

# Counts upload progress events as the page's own script receives them.
COUNT_PROGRESS = """
window.__uploadProgress = 0;
const original = XMLHttpRequestUpload.prototype.addEventListener;
XMLHttpRequestUpload.prototype.addEventListener = function (type, listener, options) {
  if (type !== "progress") return original.call(this, type, listener, options);
  const counted = (event) => { window.__uploadProgress += 1; listener(event); };
  return original.call(this, type, counted, options);
};
"""

DROP_FILES = """
(files) => {
  const transfer = new DataTransfer();
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], file.name, { type: file.type }));
  }
  return transfer;
}
"""


def _signed_in_page(live_server: LiveServer, page_factory: Any) -> tuple[Any, int]:
    app = live_server.app
    # The live server's jobs run inline, so results are final when the response comes.
    runtime(app).jobs = JobQueue(None)
    with runtime(app).database.session_scope() as session:
        photographer = make_staff(session)
        event = make_event(session, title="Sports Day")
        event.photographers.append(photographer)
        token = start_session(session, photographer, now=utcnow()).token
        event_id = event.id
    with app.test_request_context():
        cookie = session_cookie_name()
    page = page_factory("en-US")
    page.context.add_cookies([{"name": cookie, "value": token, "url": live_server.url}])
    page.add_init_script(COUNT_PROGRESS)
    return page, event_id


def test_drag_and_drop_upload_shows_progress_and_a_result_per_file(
    live_server: LiveServer, page_factory: Any
) -> None:
    page, event_id = _signed_in_page(live_server, page_factory)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/studio/events/{event_id}")
    assert page.locator("h1").inner_text() == "Sports Day"
    files = [
        {"name": "relay.jpg", "type": "image/jpeg", "data": photo_bytes(1200, 900, seed=1)},
        {"name": "finish.jpg", "type": "image/jpeg", "data": photo_bytes(1200, 900, seed=2)},
        {
            "name": "notes.jpg",
            "type": "image/jpeg",
            "data": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        },
    ]
    for file in files:
        file["data"] = base64.b64encode(file["data"]).decode()  # type: ignore[arg-type]
    transfer = page.evaluate_handle(DROP_FILES, files)

    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})

    rows = page.locator("#upload-results .upload-row")
    summary = page.locator("#upload-summary")
    summary.filter(has_text="3 of 3 files done").wait_for(timeout=30_000)
    assert rows.count() == 3
    assert summary.inner_text() == "3 of 3 files done · 2 accepted · 1 refused · 0 to retry"
    results = {
        rows.nth(i).locator(".upload-name").inner_text(): rows.nth(i).locator(".upload-status")
        for i in range(3)
    }
    for name in ("relay.jpg", "finish.jpg"):
        results[name].filter(has_text="Ready").wait_for(timeout=30_000)
    assert (
        results["notes.jpg"]
        .inner_text()
        .startswith(
            "Rejected: This file is not a photo we accept (it looks like SVG). Upload one of: JPEG,"
        )
    )
    for i in range(3):
        assert rows.nth(i).locator("progress").evaluate("bar => bar.value") == 100
    assert page.locator("#upload-overall").evaluate("bar => bar.value") == 100
    assert page.evaluate("window.__uploadProgress") >= 2
    # Chrome logs every 4xx response; anything else (a CSP refusal, a script error) fails.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []

    with runtime(live_server.app).database.session_scope() as session:
        photos = session.scalars(select(Photo).order_by(Photo.original_filename)).all()
        assert [(p.original_filename, p.status) for p in photos] == [
            ("finish.jpg", PhotoStatus.READY),
            ("relay.jpg", PhotoStatus.READY),
        ]


def test_file_over_the_limit_is_refused_in_the_page_without_sending_it(
    live_server: LiveServer, page_factory: Any
) -> None:
    settings = runtime(live_server.app).settings
    runtime(live_server.app).settings = settings.with_overrides(max_upload_bytes=1_000_000)
    page, event_id = _signed_in_page(live_server, page_factory)
    page.goto(f"{live_server.url}/studio/events/{event_id}")
    big = photo_bytes(1600, 1200, seed=3, quality=100)
    assert len(big) > 1_000_000

    page.set_input_files(
        "#upload-files", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}]
    )

    status = page.locator("#upload-results .upload-status")
    status.filter(has_text="Rejected").wait_for(timeout=10_000)
    assert status.inner_text() == "Rejected: The file is too large: the limit is 1 MB."
    assert page.evaluate("window.__uploadProgress") == 0
    with runtime(live_server.app).database.session_scope() as session:
        assert session.scalar(select(Photo)) is None
