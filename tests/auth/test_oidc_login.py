"""Family sign-in through the real loopback provider: the happy path and every forgery."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.local_provider import LocalProvider, TamperMode, UserSpec
from app.auth.login import login_cookie_name
from app.auth.models import Guardian, OidcLoginRequest
from app.web.context import runtime
from tests.auth.support import csrf_token, family_sign_in, local_path, start_login
from tests.idp import sign_in


def _rejections(session: Session) -> list[str]:
    session.expire_all()
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.callback_rejected")
    )
    return [str(event.details["reason"]) for event in events]


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/family").status_code == 200


def test_family_signs_in_and_is_keyed_on_issuer_and_subject(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    alice = oidc_users["alice"]
    response = family_sign_in(client, alice)
    assert response.status_code == 302
    assert response.headers["Location"] == "/events"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    guardian = session.scalar(select(Guardian).where(Guardian.subject == alice.sub))
    assert guardian is not None
    assert guardian.issuer == oidc.issuer
    assert guardian.display_name == alice.name
    assert _signed_in(client)


def test_the_authorization_request_uses_pkce_s256_state_and_nonce(
    client: FlaskClient, oidc: LocalProvider
) -> None:
    query = parse_qs(urlsplit(start_login(client)).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/auth/callback/local"]
    assert query["response_type"] == ["code"]


def test_redirect_uri_ignores_the_host_header(app: Flask, oidc: LocalProvider) -> None:
    client = app.test_client()
    # A Host the site does not answer gets nothing built from it.
    refused = client.get("/signin", base_url="http://evil.example")
    assert refused.status_code == 400
    assert "evil.example" not in refused.get_data(as_text=True)
    # Another name the site does answer still leads to the configured redirect URI.
    html = client.get("/signin", base_url="http://localhost").get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/auth/login/local", data={"csrf_token": token}, base_url="http://localhost"
    )
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/auth/callback/local"]


def test_a_second_sign_in_with_the_same_identity_reuses_the_guardian_not_the_email(
    app: Flask, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    bob = oidc_users["bob"]
    # Someone else's account that happens to carry bob's e-mail address must not be linked.
    impostor = Guardian(
        issuer="https://elsewhere.example", subject="x", email=bob.email, session_version=1
    )
    session.add(impostor)
    session.commit()
    family_sign_in(app.test_client(), bob)
    family_sign_in(app.test_client(), bob)
    rows = session.scalars(select(Guardian).where(Guardian.email == bob.email)).all()
    assert {(g.issuer, g.subject) for g in rows} == {
        ("https://elsewhere.example", "x"),
        (oidc.issuer, bob.sub),
    }


def test_login_start_needs_csrf(client: FlaskClient, oidc: LocalProvider) -> None:
    client.get("/signin")
    assert client.post("/auth/login/local", data={}).status_code == 400


def test_unknown_provider_is_404(client: FlaskClient, oidc: LocalProvider) -> None:
    token = csrf_token(client, "/signin")
    assert client.post("/auth/login/nope", data={"csrf_token": token}).status_code == 404
    assert client.get("/auth/callback/nope?code=x&state=y").status_code == 404


def test_callback_replay_is_refused(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    callback = local_path(sign_in(start_login(client), "alice", oidc_users["alice"].password))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    with client.application.test_request_context():
        name = login_cookie_name(state)
    binding = client.get_cookie(name)
    assert binding is not None
    assert client.get(callback).status_code == 302
    client.post("/signout", data={"csrf_token": csrf_token(client, "/signin")})
    # Even with the browser-binding cookie put back, the state works once only.
    client.set_cookie(name, binding.value)
    replay = client.get(callback)
    assert replay.status_code == 400
    assert "replayed_state" in _rejections(session)
    assert not _signed_in(client)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda q: {k: v for k, v in q.items() if k != "state"}, "missing_state"),
        (lambda q: q | {"state": "forged-state-value"}, "unknown_state"),
    ],
)
def test_missing_or_forged_state_is_refused(
    client: FlaskClient,
    session: Session,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
    mutate: object,
    reason: str,
) -> None:
    callback = sign_in(start_login(client), "alice", oidc_users["alice"].password)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    response = client.get("/auth/callback/local?" + urlencode(mutate(query)))  # type: ignore[operator]
    assert response.status_code == 400
    assert reason in _rejections(session)
    assert not _signed_in(client)


def test_duplicate_parameters_are_refused(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    callback = local_path(sign_in(start_login(client), "alice", oidc_users["alice"].password))
    response = client.get(callback + "&state=another")
    assert response.status_code == 400
    assert "duplicate_parameter" in _rejections(session)


def test_error_response_from_the_provider_is_a_400(
    client: FlaskClient, session: Session, oidc: LocalProvider
) -> None:
    state = parse_qs(urlsplit(start_login(client)).query)["state"][0]
    response = client.get(
        "/auth/callback/local?"
        + urlencode({"error": "access_denied", "state": state, "iss": oidc.issuer}),
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "cancelled or refused" in response.get_data(as_text=True)
    assert "provider_error:access_denied" in _rejections(session)
    # The state is spent: the same error URL cannot be turned into anything later.
    session.expire_all()
    request = session.scalars(select(OidcLoginRequest)).one()
    assert request.used_at is not None


def test_error_response_without_state_is_a_400(
    client: FlaskClient, session: Session, oidc: LocalProvider
) -> None:
    response = client.get("/auth/callback/local?error=server_error")
    assert response.status_code == 400
    assert "missing_state" in _rejections(session)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (TamperMode.WRONG_ISS_PARAM, "wrong_iss_parameter"),
        (TamperMode.WRONG_NONCE, "id_token_nonce"),
        (TamperMode.WRONG_AUD, "id_token_aud"),
        (TamperMode.EXPIRED, "id_token_expired"),
        (TamperMode.ALG_NONE, "id_token_alg:none"),
        (TamperMode.HS256_PUBKEY, "id_token_alg:HS256"),
        (TamperMode.BAD_SIGNATURE, "id_token_bad_signature"),
        (TamperMode.NO_ID_TOKEN, "missing_id_token"),
    ],
)
def test_tampered_provider_responses_are_refused(
    client: FlaskClient,
    session: Session,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
    mode: TamperMode,
    reason: str,
) -> None:
    authorize = start_login(client)
    oidc.set_mode(mode)
    callback = sign_in(authorize, "alice", oidc_users["alice"].password)
    response = client.get(local_path(callback))
    assert response.status_code == 400
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert reason in _rejections(session)
    assert not _signed_in(client)
    assert (
        session.scalar(select(Guardian).where(Guardian.subject == oidc_users["alice"].sub)) is None
    )


def test_missing_iss_parameter_is_refused_when_the_provider_promises_it(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    assert oidc.metadata()["authorization_response_iss_parameter_supported"] is True
    callback = sign_in(start_login(client), "alice", oidc_users["alice"].password)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    del query["iss"]
    response = client.get("/auth/callback/local?" + urlencode(query))
    assert response.status_code == 400
    assert "missing_iss_parameter" in _rejections(session)


def test_metadata_issuer_mismatch_stops_the_sign_in(
    client: FlaskClient, session: Session, oidc: LocalProvider
) -> None:
    oidc.set_mode(TamperMode.METADATA_ISSUER_MISMATCH)
    token = csrf_token(client, "/signin")
    response = client.post("/auth/login/local", data={"csrf_token": token})
    assert response.status_code == 503
    session.expire_all()
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "auth.provider_unavailable")
    ).one()
    assert event.details["reason"] == "metadata_issuer_mismatch"


def test_metadata_issuer_mismatch_at_callback_time_is_refused(
    app: Flask,
    client: FlaskClient,
    session: Session,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    authorize = start_login(client)
    callback = sign_in(authorize, "alice", oidc_users["alice"].password)
    oidc.set_mode(TamperMode.METADATA_ISSUER_MISMATCH)
    runtime(app).oidc.forget_metadata()
    response = client.get(local_path(callback))
    assert response.status_code == 503
    assert "metadata_issuer_mismatch" in _rejections(session)
    assert not _signed_in(client)


def test_another_users_valid_token_is_not_mixed_up(
    client: FlaskClient, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    # A validly signed token for someone else signs in that someone else, never alice:
    # the account is whatever (iss, sub) the verified token names.
    authorize = start_login(client)
    oidc.set_mode(TamperMode.OTHER_SUB)
    callback = sign_in(authorize, "alice", oidc_users["alice"].password)
    client.get(local_path(callback))
    alice = session.scalar(select(Guardian).where(Guardian.subject == oidc_users["alice"].sub))
    assert alice is None


def test_attackers_callback_in_a_victims_browser_binds_nobody(
    app: Flask, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    attacker = app.test_client()
    victim = app.test_client()
    # The attacker starts a sign-in, signs in at the provider, and stops before the callback.
    callback = local_path(sign_in(start_login(attacker), "bob", oidc_users["bob"].password))
    # The victim, with or without a sign-in of their own under way, opens the attacker's URL.
    start_login(victim)
    response = victim.get(callback)
    assert response.status_code == 400
    assert "foreign_browser" in _rejections(session)
    assert not _signed_in(victim)
    assert session.scalar(select(Guardian).where(Guardian.subject == oidc_users["bob"].sub)) is None
    # The attacker's own browser still could: the foreign attempt did not burn the state.
    assert attacker.get(callback).status_code == 302


def test_expired_login_request_is_refused(
    client: FlaskClient,
    session: Session,
    clock: object,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    callback = local_path(sign_in(start_login(client), "alice", oidc_users["alice"].password))
    clock.advance(minutes=11)  # type: ignore[attr-defined]
    assert client.get(callback).status_code == 400
    assert "expired_state" in _rejections(session)


def test_next_is_kept_through_the_provider(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    response = family_sign_in(client, oidc_users["alice"], next_url="/join?code=ABCD")
    assert response.headers["Location"] == "/join?code=ABCD"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "%2f%5cevil.example",
        "javascript:alert(1)",
    ],
)
def test_next_never_leaves_the_site(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec], target: str
) -> None:
    response = family_sign_in(client, oidc_users["alice"], next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/events"


def test_signin_page_next_is_sanitised(client: FlaskClient, oidc: LocalProvider) -> None:
    html = client.get("/signin?next=//evil.example").get_data(as_text=True)
    assert 'id="next" name="next" type="hidden" value=""' in html


def test_provider_down_is_a_503_not_a_500(app: Flask, client: FlaskClient) -> None:
    from app.auth.oidc import OidcClient, Provider
    from app.config import OidcProviderConfig

    down = Provider(
        config=OidcProviderConfig(
            name="local",
            issuer="http://127.0.0.1:1",
            client_id="x",
            client_secret_file=__import__("pathlib").Path("/nonexistent"),
        ),
        client_secret="s",
        redirect_uri="http://127.0.0.1:5000/auth/callback/local",
    )
    runtime(app).oidc = OidcClient([down], http=requests.Session())
    token = csrf_token(client, "/signin")
    assert client.post("/auth/login/local", data={"csrf_token": token}).status_code == 503


def test_sign_ins_and_rejections_are_audited_in_a_verifying_chain(
    app: Flask,
    client: FlaskClient,
    session: Session,
    oidc: LocalProvider,
    oidc_users: dict[str, UserSpec],
) -> None:
    from app.audit.services import verify_chain

    family_sign_in(client, oidc_users["alice"])
    client.get("/auth/callback/local?code=x&state=forged")
    session.expire_all()
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["auth.sign_in", "auth.callback_rejected"]
    event = session.scalars(select(AuditEvent)).first()
    assert event is not None
    assert event.ip_prefix == "127.0.0.0/24"
    assert verify_chain(session, key=runtime(app).keys.audit).ok


def test_a_code_from_another_login_flow_is_refused_and_spends_the_state(
    app: Flask, session: Session, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    """The token endpoint refuses a code redeemed with another flow's PKCE verifier; that
    is a clear refusal (audited, state spent, no referrer), never a server error."""
    first, second = app.test_client(), app.test_client()
    callback_first = sign_in(start_login(first), "alice", oidc_users["alice"].password)
    callback_second = sign_in(start_login(second), "alice", oidc_users["alice"].password)
    code_first = parse_qs(urlsplit(callback_first).query)["code"][0]
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback_second).query).items()}
    query["code"] = code_first

    response = second.get("/auth/callback/local?" + urlencode(query))
    assert response.status_code == 400
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert any(reason.startswith("token_error:") for reason in _rejections(session))
    assert not _signed_in(second)
    # The state is spent: the genuine callback of that flow cannot be used after it.
    replay = second.get(local_path(callback_second))
    assert replay.status_code == 400
    assert "replayed_state" in _rejections(session)
