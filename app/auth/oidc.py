"""OpenID Connect for families: authorization code flow with PKCE, state and nonce.

Authlib builds the authorization request and exchanges the code; everything a relying
party must check itself is checked here, explicitly:

- the discovery document's ``issuer`` equals the configured issuer, verbatim;
- the callback's RFC 9207 ``iss`` equals it too (required when the provider says it sends
  one), which Authlib does not check;
- ``state`` is looked up server-side, used once, expires in ten minutes, belongs to this
  provider and to the browser that started the sign-in (a cookie only it holds);
- the ID token is required, its signature is verified with joserfc against the provider's
  JWKS with an explicit allowlist (RS256, ES256, PS256: never ``none``, never an HMAC keyed
  by a public key), and ``iss``, ``aud``/``azp``, ``exp``, ``iat`` and ``nonce`` are checked;
- the account is (issuer, subject) only; e-mail is display data, never a link; the access
  token is dropped on the floor.

Nothing here imports Flask: views pass the request's parameters and cookie in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.auth.models import OidcLoginRequest
from app.auth.tokens import sha256_hex
from app.config import OidcProviderConfig
from app.db import changed_rows
from app.errors import AppError
from app.i18n import lazy_gettext as _l

logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "ES256", "PS256")
_KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
LOGIN_REQUEST_LIFETIME = dt.timedelta(minutes=10)
#: Clock skew tolerated between the provider and us.
LEEWAY = dt.timedelta(seconds=60)
HTTP_TIMEOUT = 10.0
METADATA_TTL = 3600.0
_MAX_ID_TOKEN = 16_384


class CallbackRejected(AppError):
    """A callback that must not sign anyone in; ``reason`` goes to the log and the audit."""

    status_code = 400

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(
            message
            or str(
                _l("The sign-in could not be completed. Please start again from the sign-in page.")
            )
        )
        self.reason = reason


class ProviderUnavailable(AppError):
    """The provider cannot be reached or does not behave like the configured provider."""

    status_code = 503

    def __init__(self, reason: str) -> None:
        super().__init__(
            str(_l("The sign-in service is not available at the moment. Please try again later."))
        )
        self.reason = reason


@dataclass(frozen=True)
class Provider:
    """A configured provider with its secret and our exact redirect URI."""

    config: OidcProviderConfig
    client_secret: str = field(repr=False)
    redirect_uri: str

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    iss_parameter_supported: bool
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a successful callback proves: who the provider says this browser's user is."""

    issuer: str
    subject: str
    name: str
    email: str
    next_url: str
    #: When the provider last authenticated the user (the ``auth_time`` claim), if said.
    auth_time: dt.datetime | None = None
    #: When this sign-in attempt began here.
    started_at: dt.datetime | None = None

    def authenticated_afresh(self, *, leeway: dt.timedelta = dt.timedelta(seconds=5)) -> bool:
        """Whether the provider authenticated the user during this very sign-in attempt
        (``prompt=login``/``max_age=0`` asked for it; ``auth_time`` proves it)."""
        return (
            self.auth_time is not None
            and self.started_at is not None
            and self.auth_time >= self.started_at - leeway
        )


def _auth_time(claims: Mapping[str, Any]) -> dt.datetime | None:
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


class OidcClient:
    """The providers of one application, with their cached metadata and keys."""

    def __init__(self, providers: list[Provider], http: requests.Session | None = None) -> None:
        self._providers = {provider.name: provider for provider in providers}
        self._http = http or requests.Session()
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, Metadata]] = {}
        self._jwks: dict[str, KeySet] = {}
        self._origins: set[str] = {origin_of(p.config.issuer) for p in providers}

    # -- configuration -----------------------------------------------------------------

    @property
    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def provider(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def form_action_origins(self) -> tuple[str, ...]:
        """Origins a sign-in form may redirect to (the CSP ``form-action`` needs them)."""
        with self._lock:
            return tuple(sorted(self._origins))

    def forget_metadata(self) -> None:
        """Drop cached metadata and keys (fetched again on next use)."""
        with self._lock:
            self._metadata.clear()
            self._jwks.clear()

    # -- provider documents --------------------------------------------------------------

    def _get_json(self, url: str, reason: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as error:
            logger.warning("OpenID provider document %s unavailable: %s", url, error)
            raise ProviderUnavailable(reason) from None
        if not isinstance(data, dict):
            raise ProviderUnavailable(reason)
        return data

    def metadata(self, provider: Provider) -> Metadata:
        """The provider's discovery document, checked and cached for an hour."""
        with self._lock:
            cached = self._metadata.get(provider.name)
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL:
            return cached[1]
        data = self._get_json(provider.config.discovery_url, "metadata_unavailable")
        if data.get("issuer") != provider.config.issuer:
            logger.warning(
                "provider %s: metadata issuer %r is not the configured %r",
                provider.name,
                data.get("issuer"),
                provider.config.issuer,
            )
            raise ProviderUnavailable("metadata_issuer_mismatch")
        try:
            metadata = Metadata(
                issuer=str(data["issuer"]),
                authorization_endpoint=str(data["authorization_endpoint"]),
                token_endpoint=str(data["token_endpoint"]),
                jwks_uri=str(data["jwks_uri"]),
                iss_parameter_supported=data.get("authorization_response_iss_parameter_supported")
                is True,
                token_auth_methods=tuple(
                    data.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)
                ),
            )
        except KeyError:
            raise ProviderUnavailable("metadata_incomplete") from None
        methods = data.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise ProviderUnavailable("pkce_unsupported")
        with self._lock:
            self._metadata[provider.name] = (time.monotonic(), metadata)
            self._origins.add(origin_of(metadata.authorization_endpoint))
        return metadata

    def _key_set(self, provider: Provider, metadata: Metadata, *, refresh: bool) -> KeySet:
        with self._lock:
            cached = None if refresh else self._jwks.get(provider.name)
        if cached is not None:
            return cached
        data = self._get_json(metadata.jwks_uri, "jwks_unavailable")
        try:
            key_set = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise ProviderUnavailable("jwks_invalid") from None
        with self._lock:
            self._jwks[provider.name] = key_set
        return key_set

    # -- the flow ------------------------------------------------------------------------

    def _oauth(self, provider: Provider, metadata: Metadata) -> OAuth2Session:
        method = (
            "client_secret_basic"
            if "client_secret_basic" in metadata.token_auth_methods
            else "client_secret_post"
        )
        return OAuth2Session(
            client_id=provider.config.client_id,
            client_secret=provider.client_secret,
            token_endpoint_auth_method=method,
            scope=provider.config.scopes,
            redirect_uri=provider.redirect_uri,
            code_challenge_method="S256",
        )

    def begin(
        self,
        session: Session,
        provider: Provider,
        *,
        browser_token: str,
        next_url: str,
        now: dt.datetime,
        fresh: bool = False,
    ) -> tuple[str, str]:
        """Record a new sign-in attempt (flushed); return the authorization URL and its state.

        ``fresh`` asks the provider to authenticate the user again whatever session it
        holds (``prompt=login``, ``max_age=0``): a step-up."""
        metadata = self.metadata(provider)
        # Expired attempts are worthless; sweeping them here keeps the table small.
        session.execute(
            delete(OidcLoginRequest).where(OidcLoginRequest.expires_at < now - dt.timedelta(days=1))
        )
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        session.add(
            OidcLoginRequest(
                state_hash=sha256_hex(state),
                browser_hash=sha256_hex(browser_token),
                provider=provider.name,
                nonce=nonce,
                code_verifier=verifier,
                next_url=next_url[:2000],
                created_at=now,
                expires_at=now + LOGIN_REQUEST_LIFETIME,
            )
        )
        session.flush()
        with self._oauth(provider, metadata) as client:
            extra = {"prompt": "login", "max_age": "0"} if fresh else {}
            url, _ = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state,
                code_verifier=verifier,
                nonce=nonce,
                **extra,
            )
        return str(url), state

    def _consume_state(
        self,
        session: Session,
        provider: Provider,
        params: Mapping[str, str],
        browser_token: str | None,
        now: dt.datetime,
    ) -> OidcLoginRequest:
        state = params.get("state", "")
        if not state:
            raise CallbackRejected("missing_state")
        request = session.scalar(
            select(OidcLoginRequest).where(OidcLoginRequest.state_hash == sha256_hex(state))
        )
        if request is None:
            raise CallbackRejected("unknown_state")
        if request.provider != provider.name:
            raise CallbackRejected("provider_mismatch")
        # The browser check comes before the state is spent: a URL pasted into another
        # browser must not let anyone burn the real sign-in.
        if not browser_token or not hmac.compare_digest(
            request.browser_hash, sha256_hex(browser_token)
        ):
            raise CallbackRejected("foreign_browser")
        if request.used_at is not None:
            raise CallbackRejected("replayed_state")
        if now >= request.expires_at:
            raise CallbackRejected("expired_state")
        spent = changed_rows(
            session,
            update(OidcLoginRequest)
            .where(OidcLoginRequest.id == request.id, OidcLoginRequest.used_at.is_(None))
            .values(used_at=now),
        )
        if spent != 1:
            # Another request spent it between our read and our write.
            raise CallbackRejected("replayed_state")
        return request

    def complete(
        self,
        session: Session,
        provider: Provider,
        *,
        params: Mapping[str, str],
        browser_token: str | None,
        now: dt.datetime,
    ) -> VerifiedIdentity:
        """Check a callback and return the identity it proves, or raise."""
        request = self._consume_state(session, provider, params, browser_token, now)
        if "error" in params:
            raise CallbackRejected(
                f"provider_error:{params['error'][:40]}",
                str(_l("The sign-in was cancelled or refused by your account provider.")),
            )
        metadata = self.metadata(provider)
        iss = params.get("iss")
        if iss is not None and iss != provider.config.issuer:
            raise CallbackRejected("wrong_iss_parameter")
        if iss is None and metadata.iss_parameter_supported:
            raise CallbackRejected("missing_iss_parameter")
        code = params.get("code", "")
        if not code:
            raise CallbackRejected("missing_code")
        token = self._exchange(provider, metadata, code, request.code_verifier)
        id_token = token.get("id_token")
        # Only the ID token is of use: access and refresh tokens are never kept.
        token.clear()
        if not isinstance(id_token, str) or not id_token:
            raise CallbackRejected("missing_id_token")
        claims = self.verify_id_token(provider, metadata, id_token, nonce=request.nonce, now=now)
        return VerifiedIdentity(
            issuer=provider.config.issuer,
            subject=str(claims["sub"]),
            name=str(claims.get("name") or "")[:200],
            email=str(claims.get("email") or "")[:320],
            next_url=request.next_url,
            auth_time=_auth_time(claims),
            started_at=request.created_at,
        )

    def _exchange(
        self, provider: Provider, metadata: Metadata, code: str, verifier: str
    ) -> dict[str, Any]:
        try:
            with self._oauth(provider, metadata) as client:
                token = client.fetch_token(
                    metadata.token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                    timeout=HTTP_TIMEOUT,
                )
        except AuthlibBaseError as error:
            # An error answer of the token endpoint (invalid_grant for a replayed, foreign or
            # expired code, and friends). Authlib raises OAuth2Error from its protocol layer
            # and OAuthError from its requests client; both are this.
            raise CallbackRejected(f"token_error:{str(error.error)[:40]}") from None
        except requests.RequestException as error:
            logger.warning("token endpoint of %s unavailable: %s", provider.name, error)
            raise ProviderUnavailable("token_endpoint_unavailable") from None
        except ValueError:
            raise CallbackRejected("token_response_invalid") from None
        return dict(token)

    # -- ID token ------------------------------------------------------------------------

    def _candidate_keys(self, key_set: KeySet, alg: str, kid: str | None) -> list[Key]:
        key_type = _KEY_TYPES[alg]
        keys: list[Key] = []
        for key in key_set:
            if key.key_type != key_type or (kid is not None and key.kid != kid):
                continue
            if key.get("use") not in (None, "sig") or key.get("alg") not in (None, alg):
                continue
            if isinstance(key, ECKey) and key.curve_name != "P-256":
                continue
            if isinstance(key, RSAKey | ECKey):
                keys.append(key)
        return keys

    def verify_id_token(
        self,
        provider: Provider,
        metadata: Metadata,
        id_token: str,
        *,
        nonce: str,
        now: dt.datetime,
    ) -> dict[str, Any]:
        """The ID token's claims after every check, or :class:`CallbackRejected`."""
        if len(id_token) > _MAX_ID_TOKEN or id_token.count(".") != 2:
            raise CallbackRejected("id_token_malformed")
        try:
            header = _b64url_json(id_token.split(".", 1)[0])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise CallbackRejected("id_token_malformed") from None
        if not isinstance(header, dict):
            raise CallbackRejected("id_token_malformed")
        alg = header.get("alg")
        # Decided by our allowlist before any key is touched: "none" and HS256 (which a
        # forger would key with our provider's public key) never reach a verifier.
        if alg not in ALLOWED_ALGORITHMS:
            raise CallbackRejected(f"id_token_alg:{str(alg)[:16]}")
        if "crit" in header or "jku" in header or "jwk" in header or "x5u" in header:
            raise CallbackRejected("id_token_header")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise CallbackRejected("id_token_malformed")
        keys = self._candidate_keys(self._key_set(provider, metadata, refresh=False), alg, kid)
        if not keys:
            # Providers rotate keys; one fresh look is fair, more would let forgers make us
            # fetch on every request.
            keys = self._candidate_keys(self._key_set(provider, metadata, refresh=True), alg, kid)
        if not keys:
            raise CallbackRejected("id_token_unknown_key")
        claims: dict[str, Any] | None = None
        for key in keys:
            try:
                claims = dict(jwt.decode(id_token, key, algorithms=[alg]).claims)
                break
            except JoseError:
                continue
            except (ValueError, TypeError):
                raise CallbackRejected("id_token_malformed") from None
        if claims is None:
            raise CallbackRejected("id_token_bad_signature")
        self._check_claims(provider, claims, nonce=nonce, now=now)
        return claims

    def _check_claims(
        self, provider: Provider, claims: dict[str, Any], *, nonce: str, now: dt.datetime
    ) -> None:
        client_id = provider.config.client_id
        # joserfc's registry checks iss, aud, exp, iat (with leeway) and nonce; an aud list
        # passes when it holds our client id.  azp is OpenID Connect's own rule, below.
        registry = JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=int(LEEWAY.total_seconds()),
            iss={"essential": True, "value": provider.config.issuer},
            aud={"essential": True, "value": client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise CallbackRejected("id_token_expired") from None
        except MissingClaimError as error:
            raise CallbackRejected(f"id_token_missing:{error.claim[:40]}") from None
        except ClaimError as error:
            raise CallbackRejected(f"id_token_{error.claim[:20]}") from None
        audience = claims["aud"]
        azp = claims.get("azp")
        if ((isinstance(audience, list) and len(audience) > 1) or azp is not None) and (
            azp != client_id
        ):
            raise CallbackRejected("id_token_azp")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise CallbackRejected("id_token_sub")
