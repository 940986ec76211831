"""The upload page in a real headless Chromium: an image pasted from the clipboard is the
suspect, and the page says it is searching, and at which step, until the verdict comes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.models import StaffRole
from app.auth.sessions import start_session
from app.db import utcnow
from app.investigate.models import Investigation, Verdict
from app.web.context import runtime
from app.web.identity import session_cookie_name
from tests.conftest import LiveServer
from tests.factories import make_school, make_staff
from tests.investigate.support import UNRELATED, real_photo

pytestmark = pytest.mark.browser

PASTE = """
(data) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
  document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer }));
  return document.querySelector("#suspect-file").files.length;
}
"""

RECORD_STATUS = """
document.addEventListener("DOMContentLoaded", () => {
  const status = document.querySelector("[data-investigate-status]");
  if (!status) return;
  const button = document.querySelector("form[data-investigate] button[type=submit]");
  new MutationObserver(() => {
    const shown = JSON.parse(sessionStorage.getItem("shown") || "[]");
    const key = document.querySelector("input[data-progress-key]").value;
    shown.push([status.textContent, button.disabled, key]);
    sessionStorage.setItem("shown", JSON.stringify(shown));
  }).observe(status, { childList: true, characterData: true, subtree: true });
});
"""


def test_an_image_pasted_from_the_clipboard_is_searched_with_a_running_status(
    live_server: LiveServer, page_factory: Any
) -> None:
    app = live_server.app
    with runtime(app).database.session_scope() as session:
        school = make_school(session)
        admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
        token = start_session(session, admin, now=utcnow()).token
    with app.test_request_context():
        cookie = session_cookie_name()
    page = page_factory("en-US")
    page.context.add_cookies([{"name": cookie, "value": token, "url": live_server.url}])
    page.add_init_script(RECORD_STATUS)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{live_server.url}/investigate/")

    data = base64.b64encode(real_photo(UNRELATED)).decode()
    assert page.evaluate(PASTE, data) == 1
    assert page.locator("form [data-investigate-status]").inner_text() == (
        "Image pasted from the clipboard."
    )
    # The status is written on submit, before the request leaves (the search takes
    # seconds); what the page showed meanwhile is kept across the navigation.
    page.locator("form[data-investigate] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/investigate/cases/*", timeout=60_000)
    shown = page.evaluate("() => JSON.parse(sessionStorage.getItem('shown') || '[]')")
    assert any(text.startswith("Searching") and disabled for text, disabled, _ in shown)
    # The page made a key for following the search, and the server kept the steps under it
    # for this investigator (the search may end before a poll sees a step in between).
    key = shown[-1][2]
    assert len(key) == 36
    progress = page.evaluate(
        "async (key) => (await fetch(`/investigate/progress/${key}`)).json()", key
    )
    assert progress["step"] == "done"
    assert progress["label"] == "Done: opening the verdict…"

    assert page.locator("[data-verdict]").get_attribute("data-verdict") == "no_match"
    # The suspect is shown (as a JPEG: the file as uploaded is a download, never inline).
    shown = page.locator("img.evidence-image")
    shown.evaluate("img => img.decode()")
    assert shown.evaluate("img => img.naturalWidth") == 768  # kodim15 is 768 x 512
    assert errors == []
    with runtime(app).database.session_scope() as session:
        case = session.scalars(select(Investigation)).one()
        assert case.verdict is Verdict.NO_MATCH
        assert case.suspect_bytes == len(real_photo(UNRELATED))
