"""The step-up in a real headless Chromium, through the real loopback provider: the family
is sent to the step-up page, signs in again at the provider (which must ask for the
password: ``prompt=login``), enters the code mailed to the roster contact, and is back
where it was going."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.local_provider import ClientSpec, LocalProvider, UserSpec
from app.auth.models import Guardian, StaffRole
from app.db import utcnow
from app.guard.models import GuardAlert, GuardStepUp, Step
from app.guard.services import apply_step, new_reference
from app.jobs import JobQueue
from app.web.context import runtime
from tests.auth.conftest import oidc_secret_file, provider_config
from tests.conftest import LiveServer
from tests.factories import make_family, make_school, make_staff

pytestmark = pytest.mark.browser

__all__ = ["oidc_secret_file"]


@pytest.fixture
def live_server_overrides(
    oidc_provider: LocalProvider, oidc_client: ClientSpec, oidc_secret_file: Path
) -> dict[str, Any]:
    return {"oidc_providers": (provider_config(oidc_provider, oidc_client, oidc_secret_file),)}


def _provider_sign_in(page: Any, oidc: LocalProvider, user: UserSpec) -> None:
    page.wait_for_url(f"{oidc.base_url}/**")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", user.password)
    page.click("#login")


def test_a_family_steps_up_at_the_provider_and_with_the_mailed_code(
    live_server: LiveServer,
    page_factory: Any,
    oidc: LocalProvider,
    oidc_client: ClientSpec,
    oidc_users: dict[str, UserSpec],
) -> None:
    oidc.set_redirect_uris(oidc_client.client_id, [f"{live_server.url}/auth/callback/local"])
    app = live_server.app
    runtime(app).jobs = JobQueue(None)  # mail goes at once, as in the embedded default
    database = runtime(app).database
    alice = oidc_users["alice"]
    page = page_factory("en-US")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/signin")
    page.click("button[data-provider=local]")
    _provider_sign_in(page, oidc, alice)
    page.wait_for_url(f"{live_server.url}/**")
    with database.session_scope() as session:
        guardian = session.scalar(select(Guardian).where(Guardian.subject == alice.sub))
        assert guardian is not None
        guardian.family_id = make_family(
            session, make_school(session), contact="archer.home@example.net"
        ).id
        alert = GuardAlert(
            reference=new_reference(),
            entity=f"account:{guardian.id}",
            guardian_id=guardian.id,
            score=60,
            step=Step.NOTICE,
            findings=[],
            timeline=[],
        )
        session.add(alert)
        session.flush()
        apply_step(
            session, make_staff(session, StaffRole.OPERATOR), alert, Step.STEP_UP, now=utcnow()
        )

    page.goto(f"{live_server.url}/events")
    page.wait_for_url(re.compile(r".*/account/step-up\?next="))
    page.click("#step-up-local")
    _provider_sign_in(page, oidc, alice)  # prompt=login: the password again
    page.wait_for_url(re.compile(r".*/account/step-up\?next="))
    assert "a***@example.net" in page.locator("#step-up-code-sent").inner_text()

    mailed = sorted((live_server.settings.var_dir / "mail").glob("*-guard-code.eml"))
    assert len(mailed) == 1
    with mailed[0].open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    body = message.get_body().get_content()  # type: ignore[union-attr]
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", body)
    assert match
    page.fill("#step-up-code", match.group(1))
    page.click("form[action$='/account/step-up/code'] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/events")
    assert errors == []
    with database.session_scope() as session:
        (row,) = session.scalars(select(GuardStepUp)).all()
        assert row.verified_at is not None
