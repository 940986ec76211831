"""The step-up through the real loopback provider: ``prompt=login`` and ``max_age=0`` are
asked for, and only a sign-in whose ``auth_time`` falls within the attempt satisfies it."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
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
from app.jobs import JobQueue
from app.mail.models import OutgoingMail
from app.web.context import runtime
from tests.auth.conftest import provider_config
from tests.auth.support import family_sign_in, local_path
from tests.factories import make_family, make_staff
from tests.idp import sign_in
from tests.support.web import Clock, csrf_token


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


def _code_mail(session: Session) -> tuple[str, str]:
    """The address and the code of the newest one-time-code mail in the outbox."""
    session.expire_all()
    mail = session.scalars(
        select(OutgoingMail)
        .where(OutgoingMail.kind == "guard.code")
        .order_by(OutgoingMail.id.desc())
    ).first()
    assert mail is not None
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", mail.body)
    assert match, mail.body
    return mail.to_address, match.group(1)


def _stepped_up_at_provider(client: FlaskClient, alice: UserSpec) -> None:
    token = csrf_token(client, "/account/step-up?next=/events")
    started = client.post("/account/step-up/local", data={"csrf_token": token, "next": "/events"})
    callback = sign_in(started.headers["Location"], alice.username, alice.password)
    back = client.get(local_path(callback))
    assert back.status_code == 302
    assert back.headers["Location"].startswith("/account/step-up")


def _with_roster_contact(session: Session, guardian: Guardian, contact: str) -> None:
    family = make_family(session, contact=contact)
    guardian.family_id = family.id
    session.commit()


def test_with_an_e_mail_on_the_roster_the_step_up_also_needs_the_code_sent_there(
    app: Flask,
    client: FlaskClient,
    session: Session,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    runtime(app).jobs = JobQueue(None)  # the embedded default: no queue, mail goes at once
    alice = oidc_users["alice"]
    assert family_sign_in(client, alice).status_code == 302
    guardian = _guardian(session, alice)
    _with_roster_contact(session, guardian, "kumiko.family@example.org")
    _ask_for_step_up(session, guardian)
    _stepped_up_at_provider(client, alice)

    address, code = _code_mail(session)
    assert address == "kumiko.family@example.org"  # the roster's contact, not the login's
    page = client.get("/account/step-up?next=/events").text
    assert "k***@example.org" in page
    assert client.get("/events").headers["Location"].startswith("/account/step-up")

    token = csrf_token(client, "/account/step-up?next=/events")
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post(
        "/account/step-up/code", data={"csrf_token": token, "code": wrong, "next": "/events"}
    )
    assert refused.status_code == 400
    assert client.get("/events").headers["Location"].startswith("/account/step-up")

    accepted = client.post(
        "/account/step-up/code",
        data={"csrf_token": token, "code": f" {code[:3]} {code[3:]} ", "next": "/events"},
    )
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == "/events"
    assert client.get("/events").status_code == 200
    actions = session.scalars(select(AuditEvent.action)).all()
    assert "guard.code_sent" in actions
    assert "guard.stepped_up" in actions
    # The code is used up: entering it again finds nothing waiting.
    again = client.post(
        "/account/step-up/code", data={"csrf_token": token, "code": code, "next": "/events"}
    )
    assert again.status_code == 409
    # In the embedded default the outbox is written under var/mail/ right away.
    sent = list((runtime(app).settings.var_dir / "mail").glob("*-guard-code.eml"))
    assert len(sent) == 1
    with sent[0].open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert code in message.get_body().get_content()  # type: ignore[union-attr]


def test_five_wrong_codes_or_an_old_code_need_a_new_one(
    client: FlaskClient,
    session: Session,
    clock: Clock,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    alice = oidc_users["alice"]
    assert family_sign_in(client, alice).status_code == 302
    guardian = _guardian(session, alice)
    _with_roster_contact(session, guardian, "family@example.org")
    _ask_for_step_up(session, guardian)
    _stepped_up_at_provider(client, alice)
    _address, code = _code_mail(session)
    token = csrf_token(client, "/account/step-up?next=/events")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert (
            client.post(
                "/account/step-up/code", data={"csrf_token": token, "code": wrong}
            ).status_code
            == 400
        )
    assert (
        client.post("/account/step-up/code", data={"csrf_token": token, "code": code}).status_code
        == 409
    )

    assert client.post("/account/step-up/code/again", data={"csrf_token": token}).status_code == 303
    _address, fresh = _code_mail(session)
    clock.advance(minutes=11)
    assert (
        client.post("/account/step-up/code", data={"csrf_token": token, "code": fresh}).status_code
        == 400
    )
    assert client.get("/events").headers["Location"].startswith("/account/step-up")
