"""The loopback OpenID provider behaves like a strict, real provider, and misbehaves on cue.

ID tokens are checked with joserfc, the JOSE library Authlib's OpenID Connect client uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
)
from joserfc.jwk import KeySet, RSAKey

from app.auth.local_provider import (
    TAMPERED_ISSUER,
    ClientSpec,
    LocalProvider,
    LocalProviderError,
    TamperMode,
    UserSpec,
)
from tests.idp import (
    DEFAULT_REDIRECT_URI,
    OIDC_TEST_USERS,
    SignInRefusedError,
    parse_forms,
    sign_in,
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AuthRequest:
    """One authorization request and the secrets the relying party keeps for it."""

    url: str
    redirect_uri: str
    state: str
    nonce: str
    code_verifier: str


def authorization_request(
    provider: LocalProvider,
    client: ClientSpec,
    *,
    redirect_uri: str | None = None,
    pkce: bool = True,
    **extra: str,
) -> AuthRequest:
    """Build an authorization URL the way a careful relying party does."""
    verifier = secrets.token_urlsafe(48)
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    uri = redirect_uri or DEFAULT_REDIRECT_URI
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": uri,
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
    }
    if pkce:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    params |= extra
    endpoint = provider.metadata()["authorization_endpoint"]
    return AuthRequest(f"{endpoint}?{urlencode(params)}", uri, state, nonce, verifier)


def query_of(url: str) -> dict[str, str]:
    """Single-valued query parameters of a URL."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange_code(
    provider: LocalProvider,
    client: ClientSpec,
    request: AuthRequest,
    code: str,
    *,
    verifier: str | None = None,
    auth: str = "basic",
) -> requests.Response:
    """POST the code to the token endpoint as the client."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": verifier or request.code_verifier,
    }
    token_endpoint = provider.metadata()["token_endpoint"]
    if auth == "basic":
        return requests.post(
            token_endpoint, data=data, auth=(client.client_id, client.client_secret), timeout=10
        )
    data |= {"client_id": client.client_id, "client_secret": client.client_secret}
    return requests.post(token_endpoint, data=data, timeout=10)


def key_set(provider: LocalProvider) -> KeySet:
    """The provider's published signing keys."""
    jwks = requests.get(provider.metadata()["jwks_uri"], timeout=10).json()
    return KeySet.import_key_set(jwks)


def verify_id_token(
    provider: LocalProvider, client: ClientSpec, request: AuthRequest, id_token: str
) -> dict[str, Any]:
    """Check signature and claims as Authlib's client does; return the claims."""
    token = jwt.decode(id_token, key_set(provider), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": client.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": request.nonce},
    ).validate(token.claims)
    return dict(token.claims)


def split_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, payload and raw signature of a compact JWS, unverified."""
    header, payload, signature = token.split(".")
    return (
        json.loads(_b64url_decode(header)),
        json.loads(_b64url_decode(payload)),
        _b64url_decode(signature),
    )


@pytest.fixture
def oidc(oidc: LocalProvider, oidc_client: ClientSpec) -> LocalProvider:
    """The shared provider, with the redirect URI these tests use whatever a conftest chose."""
    oidc.set_redirect_uris(oidc_client.client_id, [DEFAULT_REDIRECT_URI])
    return oidc


@pytest.fixture
def alice() -> UserSpec:
    return OIDC_TEST_USERS[0]


def run_flow(
    provider: LocalProvider, client: ClientSpec, user: UserSpec
) -> tuple[AuthRequest, str, requests.Response]:
    """Authorize, sign in and redeem the code; return the request, callback URL and token reply."""
    request = authorization_request(provider, client)
    callback = sign_in(request.url, user.username, user.password)
    params = query_of(callback)
    assert "code" in params, callback
    return request, callback, exchange_code(provider, client, request, params["code"])


# --------------------------------------------------------------------------- discovery


def test_discovery_advertises_a_strict_code_flow_provider(oidc: LocalProvider) -> None:
    metadata = oidc.metadata()

    assert metadata["issuer"] == oidc.issuer
    assert oidc.issuer == f"http://127.0.0.1:{oidc.port}"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert {"openid", "email", "profile"} <= set(metadata["scopes_supported"])
    assert {"sub", "email", "name"} <= set(metadata["claims_supported"])
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert metadata[endpoint].startswith(oidc.issuer + "/")


def test_jwks_publishes_one_rsa_signing_key(oidc: LocalProvider) -> None:
    jwks = requests.get(oidc.metadata()["jwks_uri"], timeout=10).json()

    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert "d" not in key
    assert "p" not in key


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port``, from the kernel's own table."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, _, state = line.split()[1:4]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                addresses.add(address)
    return addresses


def test_provider_listens_on_loopback_only(oidc: LocalProvider) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp")

    # 127.0.0.1 in the kernel's little-endian hex; never 0.0.0.0 or an IPv6 wildcard.
    assert _listening_addresses(oidc.port) == {"0100007F"}


# --------------------------------------------------------------------------- the happy path


def test_full_authorization_code_flow_yields_a_verifiable_id_token(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    browser = requests.Session()

    # 1. The provider sends the browser to its own login page.
    first = browser.get(request.url, allow_redirects=False, timeout=10)
    assert first.status_code in {302, 303}
    login_url = urljoin(request.url, first.headers["Location"])
    assert login_url.startswith(oidc.issuer + "/interaction/")

    # 2. The login page is a plain HTML form.
    page = browser.get(login_url, timeout=10)
    assert page.status_code == 200
    assert "<script" not in page.text.lower()
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    (form,) = parse_forms(page.text)
    assert form.method == "post"
    assert {"username", "password"} <= set(form.inputs)
    assert "login" in form.button_ids

    # 3. Credentials, then (automatic) consent, then back to the client.
    response = browser.post(
        urljoin(login_url, form.action),
        data={"username": alice.username, "password": alice.password},
        allow_redirects=False,
        timeout=10,
    )
    for _ in range(6):
        assert response.status_code in {302, 303}, response.text
        location = urljoin(response.url, response.headers["Location"])
        if not location.startswith(oidc.issuer):
            break
        response = browser.get(location, allow_redirects=False, timeout=10)
    assert location.startswith(DEFAULT_REDIRECT_URI + "?")
    params = query_of(location)
    assert params["state"] == request.state
    assert params["iss"] == oidc.issuer
    assert "error" not in params

    # 4. The code, with the PKCE verifier, buys tokens.
    token_response = exchange_code(oidc, oidc_client, request, params["code"])
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["Cache-Control"] == "no-store"
    tokens = token_response.json()
    assert tokens["token_type"].lower() == "bearer"

    # 5. The ID token verifies against the published keys and names alice.
    header, _, _ = split_jwt(tokens["id_token"])
    assert header["alg"] == "RS256"
    claims = verify_id_token(oidc, oidc_client, request, tokens["id_token"])
    assert claims["sub"] == alice.sub
    assert claims["email"] == alice.email
    assert claims["email_verified"] is True
    assert claims["name"] == alice.name
    assert claims["exp"] > time.time()

    # 6. The access token works at userinfo.
    userinfo = requests.get(
        oidc.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo["sub"] == alice.sub


def test_client_secret_post_is_accepted(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    code = query_of(sign_in(request.url, alice.username, alice.password))["code"]

    response = exchange_code(oidc, oidc_client, request, code, auth="post")

    assert response.status_code == 200, response.text
    assert verify_id_token(oidc, oidc_client, request, response.json()["id_token"])


def test_each_user_gets_their_own_subject(
    oidc: LocalProvider, oidc_client: ClientSpec, oidc_users: dict[str, UserSpec]
) -> None:
    for user in oidc_users.values():
        request, _, response = run_flow(oidc, oidc_client, user)
        claims = verify_id_token(oidc, oidc_client, request, response.json()["id_token"])
        assert claims["sub"] == user.sub
        assert claims["email"] == user.email


# --------------------------------------------------------------------------- refusals


def test_authorization_request_without_pkce_is_refused(
    oidc: LocalProvider, oidc_client: ClientSpec
) -> None:
    request = authorization_request(oidc, oidc_client, pkce=False)

    response = requests.get(request.url, allow_redirects=False, timeout=10)

    # The redirect URI is valid, so the error goes back to the client, not to a login page.
    assert response.status_code in {302, 303}
    location = response.headers["Location"]
    assert location.startswith(DEFAULT_REDIRECT_URI + "?")
    params = query_of(location)
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]
    assert params["iss"] == oidc.issuer
    assert "code" not in params


def test_plain_pkce_method_is_refused(oidc: LocalProvider, oidc_client: ClientSpec) -> None:
    request = authorization_request(
        oidc, oidc_client, pkce=False, code_challenge="a" * 43, code_challenge_method="plain"
    )

    response = requests.get(request.url, allow_redirects=False, timeout=10)

    assert query_of(response.headers["Location"])["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        DEFAULT_REDIRECT_URI + "/",
        DEFAULT_REDIRECT_URI + "?next=/",
        DEFAULT_REDIRECT_URI.replace(":5000", ":5001"),
        DEFAULT_REDIRECT_URI.replace("127.0.0.1", "localhost"),
        DEFAULT_REDIRECT_URI.replace("http://", "https://"),
        "https://attacker.example/auth/callback/local",
    ],
)
def test_redirect_uri_must_match_exactly(
    oidc: LocalProvider, oidc_client: ClientSpec, redirect_uri: str
) -> None:
    request = authorization_request(oidc, oidc_client, redirect_uri=redirect_uri)

    response = requests.get(request.url, allow_redirects=False, timeout=10)

    # Never redirect to an unregistered URI: the error is shown by the provider itself.
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "redirect_uri" in response.text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "http" not in response.text.split("</style>", 1)[0].lower()  # no outside assets


def test_missing_redirect_uri_is_refused(oidc: LocalProvider, oidc_client: ClientSpec) -> None:
    request = authorization_request(oidc, oidc_client)
    url = request.url.replace(urlencode({"redirect_uri": request.redirect_uri}) + "&", "")
    assert "redirect_uri" not in url

    response = requests.get(url, allow_redirects=False, timeout=10)

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_wrong_password_is_refused_and_the_form_shown_again(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    browser = requests.Session()
    login_url = urljoin(
        request.url,
        browser.get(request.url, allow_redirects=False, timeout=10).headers["Location"],
    )
    (form,) = parse_forms(browser.get(login_url, timeout=10).text)

    refused = browser.post(
        urljoin(login_url, form.action),
        data={"username": alice.username, "password": alice.password + "x"},
        allow_redirects=False,
        timeout=10,
    )

    assert refused.status_code == 401
    assert "Location" not in refused.headers
    assert "wrong password" in refused.text
    (again,) = parse_forms(refused.text)
    assert {"username", "password"} <= set(again.inputs)

    # The same attempt still succeeds with the right password.
    accepted = browser.post(
        urljoin(login_url, again.action),
        data={"username": alice.username, "password": alice.password},
        allow_redirects=False,
        timeout=10,
    )
    assert accepted.status_code == 303


def test_refused_username_is_escaped_in_the_form(
    oidc: LocalProvider, oidc_client: ClientSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    browser = requests.Session()
    login_url = urljoin(
        request.url,
        browser.get(request.url, allow_redirects=False, timeout=10).headers["Location"],
    )
    (form,) = parse_forms(browser.get(login_url, timeout=10).text)

    refused = browser.post(
        urljoin(login_url, form.action),
        data={"username": '"><script>alert(1)</script>', "password": "x"},
        allow_redirects=False,
        timeout=10,
    )

    assert refused.status_code == 401
    assert "<script>" not in refused.text
    assert "&lt;script&gt;" in refused.text


def test_unknown_interaction_shows_an_error_page(oidc: LocalProvider) -> None:
    response = requests.get(f"{oidc.base_url}/interaction/no-such-attempt", timeout=10)

    assert response.status_code == 400
    assert "expired or is unknown" in response.text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "bob-battery-staple"), ("mallory", "anything"), ("", ""), ("ALICE", "x")],
)
def test_bad_credentials_never_sign_in(
    oidc: LocalProvider, oidc_client: ClientSpec, username: str, password: str
) -> None:
    request = authorization_request(oidc, oidc_client)

    with pytest.raises(SignInRefusedError):
        sign_in(request.url, username, password)


def test_code_cannot_be_redeemed_twice(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    code = query_of(sign_in(request.url, alice.username, alice.password))["code"]
    assert exchange_code(oidc, oidc_client, request, code).status_code == 200

    replay = exchange_code(oidc, oidc_client, request, code)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_code_needs_the_matching_pkce_verifier(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    code = query_of(sign_in(request.url, alice.username, alice.password))["code"]

    response = exchange_code(oidc, oidc_client, request, code, verifier=secrets.token_urlsafe(48))

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_needs_the_client_secret(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    request = authorization_request(oidc, oidc_client)
    code = query_of(sign_in(request.url, alice.username, alice.password))["code"]
    impostor = ClientSpec(oidc_client.client_id, "not-the-secret", oidc_client.redirect_uris)

    response = exchange_code(oidc, impostor, request, code)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# --------------------------------------------------------------------------- test hooks


def test_redirect_uris_can_be_replaced_at_runtime(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    new_uri = "http://127.0.0.1:48123/auth/callback/local"
    oidc.set_redirect_uris(oidc_client.client_id, [new_uri])

    request = authorization_request(oidc, oidc_client, redirect_uri=new_uri)
    callback = sign_in(request.url, alice.username, alice.password)
    assert callback.startswith(new_uri + "?")
    response = exchange_code(oidc, oidc_client, request, query_of(callback)["code"])
    assert response.status_code == 200, response.text

    # The old URI is no longer registered.
    old = authorization_request(oidc, oidc_client)
    assert requests.get(old.url, allow_redirects=False, timeout=10).status_code == 400

    # The start-up registration comes back on request (and after every test).
    oidc.restore_redirect_uris()
    initial = authorization_request(oidc, oidc_client, redirect_uri=oidc_client.redirect_uris[0])
    callback = sign_in(initial.url, alice.username, alice.password)
    assert callback.startswith(oidc_client.redirect_uris[0] + "?")


def test_runtime_registration_rejects_bad_input(
    oidc: LocalProvider, oidc_client: ClientSpec
) -> None:
    with pytest.raises(LocalProviderError, match="unknown client"):
        oidc.set_redirect_uris("no-such-client", [DEFAULT_REDIRECT_URI])
    with pytest.raises(LocalProviderError, match="redirect_uris"):
        oidc.set_redirect_uris(oidc_client.client_id, [])
    with pytest.raises(LocalProviderError):
        oidc.set_redirect_uris(oidc_client.client_id, ["not a url"])


def test_unknown_mode_is_refused(oidc: LocalProvider) -> None:
    response = requests.post(f"{oidc.base_url}/__test__/mode", json={"mode": "evil"}, timeout=10)

    assert response.status_code == 400
    assert set(response.json()["modes"]) == {str(m) for m in TamperMode}


def test_test_hooks_refuse_form_posts(oidc: LocalProvider) -> None:
    # A web page could make a browser send a form post, never a JSON one.
    response = requests.post(
        f"{oidc.base_url}/__test__/mode", data={"mode": "alg_none"}, timeout=10
    )

    assert response.status_code == 415
    assert oidc.metadata()["issuer"] == oidc.issuer


@pytest.fixture(scope="module")
def provider_without_hooks(oidc_client: ClientSpec) -> Iterator[LocalProvider]:
    with LocalProvider(clients=[oidc_client], users=OIDC_TEST_USERS[:1]) as provider:
        yield provider


def test_test_hooks_are_absent_unless_enabled(provider_without_hooks: LocalProvider) -> None:
    for path, payload in [
        ("/__test__/mode", {"mode": "alg_none"}),
        ("/__test__/clients", {"client_id": "photogate-test", "redirect_uris": ["http://x/"]}),
    ]:
        response = requests.post(
            f"{provider_without_hooks.base_url}{path}", json=payload, timeout=10
        )
        assert response.status_code == 404
    with pytest.raises(LocalProviderError, match="disabled"):
        provider_without_hooks.set_mode(TamperMode.ALG_NONE)


# --------------------------------------------------------------------------- tamper modes


def test_mode_none_is_honest(oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec) -> None:
    oidc.set_mode(TamperMode.NONE)
    request, callback, response = run_flow(oidc, oidc_client, alice)

    assert query_of(callback)["iss"] == oidc.issuer
    assert verify_id_token(oidc, oidc_client, request, response.json()["id_token"])


def _nonce_differs(request: AuthRequest, client: ClientSpec, claims: dict[str, Any]) -> bool:
    return claims["nonce"] != request.nonce


def _audience_differs(request: AuthRequest, client: ClientSpec, claims: dict[str, Any]) -> bool:
    return claims["aud"] != client.client_id and claims["nonce"] == request.nonce


def _expired(request: AuthRequest, client: ClientSpec, claims: dict[str, Any]) -> bool:
    return claims["iat"] < claims["exp"] < time.time() - 600


def _all_claims_right(request: AuthRequest, client: ClientSpec, claims: dict[str, Any]) -> bool:
    return claims["nonce"] == request.nonce and claims["aud"] == client.client_id


@pytest.mark.parametrize(
    ("mode", "claims_say", "refusal", "match"),
    [
        # The signature is good; one claim is wrong.
        (TamperMode.WRONG_NONCE, _nonce_differs, InvalidClaimError, "nonce"),
        (TamperMode.WRONG_AUD, _audience_differs, InvalidClaimError, "aud"),
        (TamperMode.EXPIRED, _expired, ExpiredTokenError, None),
        # Every claim is right; one byte of the RS256 signature is flipped.
        (TamperMode.BAD_SIGNATURE, _all_claims_right, BadSignatureError, None),
    ],
)
def test_tamper_modes_make_tokens_that_verification_refuses(
    oidc: LocalProvider,
    oidc_client: ClientSpec,
    alice: UserSpec,
    mode: TamperMode,
    claims_say: Callable[[AuthRequest, ClientSpec, dict[str, Any]], bool],
    refusal: type[Exception],
    match: str | None,
) -> None:
    oidc.set_mode(mode)
    request, _, response = run_flow(oidc, oidc_client, alice)
    id_token = response.json()["id_token"]

    header, claims, _ = split_jwt(id_token)
    assert header["alg"] == "RS256"
    assert claims_say(request, oidc_client, claims)
    with pytest.raises(refusal, match=match):
        verify_id_token(oidc, oidc_client, request, id_token)


def test_alg_none_mode_returns_an_unsigned_token(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.ALG_NONE)
    request, _, response = run_flow(oidc, oidc_client, alice)
    id_token = response.json()["id_token"]

    header, payload, signature = split_jwt(id_token)
    assert header["alg"] == "none"
    assert signature == b""
    assert id_token.endswith(".")
    assert payload["sub"] == alice.sub
    assert payload["nonce"] == request.nonce  # everything else looks right
    with pytest.raises(JoseError):
        verify_id_token(oidc, oidc_client, request, id_token)


def test_hs256_pubkey_mode_forges_with_the_public_key_as_hmac_secret(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.HS256_PUBKEY)
    request, _, response = run_flow(oidc, oidc_client, alice)
    id_token = response.json()["id_token"]

    header, payload, signature = split_jwt(id_token)
    assert header["alg"] == "HS256"
    assert payload["nonce"] == request.nonce
    # The MAC is exactly HMAC-SHA256 keyed with the published RSA key as a PEM document.
    jwk = requests.get(oidc.metadata()["jwks_uri"], timeout=10).json()["keys"][0]
    public_pem = RSAKey.import_key(jwk).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = id_token.rsplit(".", 1)[0].encode("ascii")
    assert hmac.compare_digest(signature, hmac.new(public_pem, signing_input, "sha256").digest())
    with pytest.raises(JoseError):
        verify_id_token(oidc, oidc_client, request, id_token)


def test_no_id_token_mode_drops_the_id_token(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.NO_ID_TOKEN)
    _, _, response = run_flow(oidc, oidc_client, alice)

    assert response.status_code == 200
    tokens = response.json()
    assert "id_token" not in tokens
    assert tokens["access_token"]


def test_wrong_iss_param_mode_changes_the_authorization_response_iss(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.WRONG_ISS_PARAM)
    request = authorization_request(oidc, oidc_client)

    callback = sign_in(request.url, alice.username, alice.password)

    params = query_of(callback)
    assert params["iss"] == TAMPERED_ISSUER
    assert params["state"] == request.state
    assert callback.startswith(DEFAULT_REDIRECT_URI + "?")
    # Only the response to the client changes; the provider itself is untouched.
    assert oidc.metadata()["issuer"] == oidc.issuer


def test_wrong_iss_param_mode_also_changes_error_responses(
    oidc: LocalProvider, oidc_client: ClientSpec
) -> None:
    oidc.set_mode(TamperMode.WRONG_ISS_PARAM)
    request = authorization_request(oidc, oidc_client, pkce=False)

    response = requests.get(request.url, allow_redirects=False, timeout=10)

    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert params["iss"] == TAMPERED_ISSUER


def test_metadata_issuer_mismatch_mode_changes_discovery(oidc: LocalProvider) -> None:
    oidc.set_mode(TamperMode.METADATA_ISSUER_MISMATCH)

    metadata = oidc.metadata()

    assert metadata["issuer"] == TAMPERED_ISSUER
    # The endpoints still point at the real provider, as in a mix-up attack.
    assert metadata["token_endpoint"].startswith(oidc.issuer)
    oidc.reset_mode()
    assert oidc.metadata()["issuer"] == oidc.issuer


def test_other_sub_mode_signs_a_valid_token_for_someone_else(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.OTHER_SUB)
    request, _, response = run_flow(oidc, oidc_client, alice)

    claims = verify_id_token(oidc, oidc_client, request, response.json()["id_token"])

    assert claims["sub"] != alice.sub
    assert claims["sub"] in {user.sub for user in OIDC_TEST_USERS}


def test_modes_last_until_reset(
    oidc: LocalProvider, oidc_client: ClientSpec, alice: UserSpec
) -> None:
    oidc.set_mode(TamperMode.NO_ID_TOKEN)
    assert "id_token" not in run_flow(oidc, oidc_client, alice)[2].json()
    assert "id_token" not in run_flow(oidc, oidc_client, alice)[2].json()

    oidc.reset_mode()

    assert "id_token" in run_flow(oidc, oidc_client, alice)[2].json()


# --------------------------------------------------------------------------- the launcher


def test_missing_node_modules_gives_install_instructions(tmp_path: Path) -> None:
    provider = LocalProvider(
        clients=[ClientSpec("c", "s", [DEFAULT_REDIRECT_URI])], users=[], idp_dir=tmp_path
    )

    with pytest.raises(LocalProviderError, match=r"npm ci --prefix idp"):
        provider.start()
    assert not provider.running


def test_missing_node_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    provider = LocalProvider(clients=[ClientSpec("c", "s", [DEFAULT_REDIRECT_URI])], users=[])

    with pytest.raises(LocalProviderError, match="node was not found"):
        provider.start()


def test_start_failure_reports_node_stderr(oidc_provider: LocalProvider) -> None:
    # The session's provider already holds this port.
    provider = LocalProvider(
        clients=[ClientSpec("c", "s", [DEFAULT_REDIRECT_URI])],
        users=[],
        port=oidc_provider.port,
    )

    with pytest.raises(LocalProviderError, match="EADDRINUSE"):
        provider.start()
    assert not provider.running


def test_issuer_override_is_advertised(oidc_client: ClientSpec) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    issuer = f"http://localhost:{port}"

    with LocalProvider(
        clients=[oidc_client], users=OIDC_TEST_USERS, port=port, issuer_override=issuer
    ) as provider:
        assert provider.issuer == issuer
        assert provider.metadata()["issuer"] == issuer
        # Endpoint URLs follow the host the request was sent to.
        metadata = requests.get(provider.discovery_url, timeout=10).json()
        assert metadata["issuer"] == issuer
        assert metadata["authorization_endpoint"] == f"{issuer}/auth"
    assert not provider.running


@pytest.mark.parametrize(
    "issuer", ["ftp://127.0.0.1:1", "http://127.0.0.1:1/path", "http://127.0.0.1:1/?q=1"]
)
def test_issuer_override_must_be_an_origin(issuer: str) -> None:
    with pytest.raises(ValueError, match="issuer_override"):
        LocalProvider(
            clients=[ClientSpec("c", "s", [DEFAULT_REDIRECT_URI])],
            users=[],
            port=1234,
            issuer_override=issuer,
        )


def test_stop_ends_node_and_frees_the_port(oidc_client: ClientSpec) -> None:
    provider = LocalProvider(clients=[oidc_client], users=OIDC_TEST_USERS).start()
    port = provider.port
    was_running = provider.running

    provider.stop()

    assert was_running
    assert not provider.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
