"""The step-up through the real loopback provider: ``prompt=login`` and ``max_age=0`` are
asked for, and only a sign-in whose ``auth_time`` falls within the attempt satisfies it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.local_provider import ClientSpec, LocalProvider, UserSpec
from app.auth.models import Guardian, StaffRole
from app.config import Settings
from app.db import utcnow
from app.guard.models import GuardAlert, GuardStepUp, Step
from app.guard.services import apply_step, new_reference
from tests.auth.conftest import provider_config
from tests.auth.support import family_sign_in, local_path
from tests.factories import make_staff
from tests.idp import sign_in
from tests.support.web import csrf_token


@pytest.fixture
def settings(
    settings: Settings,
    oidc_provider: LocalProvider,
    oidc_client: ClientSpec,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    secret = tmp_path_factory.mktemp("oidc") / "client_secret"
    secret.write_text(oidc_client.client_secret)
    secret.chmod(0o600)
    return settings.with_overrides(
        oidc_providers=(provider_config(oidc_provider, oidc_client, Path(secret)),)
    )


def _ask_for_step_up(session: Session, guardian: Guardian) -> None:
    staff = make_staff(session, StaffRole.OPERATOR)
    alert = GuardAlert(
        reference=new_reference(),
        entity=f"account:{guardian.id}",
        guardian_id=guardian.id,
        school_id=None,
        score=60,
        step=Step.NOTICE,
        findings=[],
        timeline=[],
    )
    session.add(alert)
    session.flush()
    apply_step(session, staff, alert, Step.STEP_UP, now=utcnow())
    session.commit()


def _guardian(session: Session, user: UserSpec) -> Guardian:
    guardian = session.scalar(select(Guardian).where(Guardian.subject == user.sub))
    assert guardian is not None
    return guardian


def test_a_step_up_signs_in_again_at_the_provider_with_a_fresh_authentication(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    alice = oidc_users["alice"]
    assert family_sign_in(client, alice).status_code == 302
    guardian = _guardian(session, alice)
    _ask_for_step_up(session, guardian)

    sent = client.get("/events")
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/account/step-up?next=/events"

    token = csrf_token(client, "/account/step-up?next=/events")
    started = client.post("/account/step-up/local", data={"csrf_token": token, "next": "/events"})
    assert started.status_code == 303
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["prompt"] == ["login"]
    assert query["max_age"] == ["0"]

    callback = sign_in(started.headers["Location"], alice.username, alice.password)
    back = client.get(local_path(callback))
    assert back.status_code == 302
    assert not back.headers["Location"].startswith("/account/step-up")
    assert not client.get("/events").headers.get("Location", "").startswith("/account/step-up")
    session.expire_all()
    assert session.scalars(select(GuardStepUp)).all() != []
    actions = session.scalars(select(AuditEvent.action)).all()
    assert "guard.stepped_up" in actions


def test_an_ordinary_sign_in_does_not_satisfy_a_step_up(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    bob = oidc_users["bob"]
    assert family_sign_in(client, bob).status_code == 302
    _ask_for_step_up(session, _guardian(session, bob))

    again = family_sign_in(client, bob)
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/account/step-up")
    assert session.scalars(select(GuardStepUp)).all() == []
