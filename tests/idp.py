"""Pytest plugin: a real OpenID provider on loopback for sign-in tests.

Fixtures
--------
``oidc_redirect_uris`` (session)
    Redirect URIs registered for the test client at start. Override it in the root
    ``tests/conftest.py`` only: the provider is built once per run, so an override in a
    sub-directory takes effect only if that directory happens to start it. For a URI known
    only inside a test (a live server's port), call ``oidc.set_redirect_uris(...)``.
``oidc_client`` (session)
    The :class:`ClientSpec` of ``photogate-test``, with a client secret made for this run.
``oidc_users`` (session)
    Accounts alice, bob and carol as ``{username: UserSpec}``.
``oidc_provider`` (session)
    The started :class:`LocalProvider`, with test hooks.
``oidc`` (function)
    The same provider, honest and with its original redirect URIs at the start and at the
    end of the test, whatever the test changed.

``sign_in(authorize_url, username, password)`` plays the browser on the provider's pages and
returns the URL the provider finally redirects to (the relying party's callback).

PYTEST_DONT_REWRITE: test modules import the functions below before pytest loads this file as
a plugin, and it raises its own errors instead of relying on rewritten asserts.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from app.auth.local_provider import ClientSpec, LocalProvider, TamperMode, UserSpec

OIDC_TEST_CLIENT_ID = "photogate-test"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:5000/auth/callback/local"

OIDC_TEST_USERS: tuple[UserSpec, ...] = (
    UserSpec(
        sub="2f0c6a4e-alice",
        username="alice",
        password="alice-correct-horse",
        email="alice@families.example",
        name="Alice Archer",
    ),
    UserSpec(
        sub="7b91d3c2-bob",
        username="bob",
        password="bob-battery-staple",
        email="bob@families.example",
        name="Bob Baker",
    ),
    UserSpec(
        sub="c45e08f1-carol",
        username="carol",
        password="carol-purple-lantern",
        email="carol@families.example",
        name="Carol Carter",
    ),
)

# Redirects inside one sign-in: authorize, login page, resume, consent, resume, callback.
_MAX_HOPS = 12


class SignInRefusedError(AssertionError):
    """The provider did not accept the credentials (it showed the login form again)."""


@dataclass
class Form:
    """One HTML form as a browser would see it: where it posts and what it contains."""

    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)
    button_ids: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(
                    action=attributes.get("action", ""),
                    method=attributes.get("method", "get").lower(),
                )
            )
        elif self.forms and tag == "input" and "name" in attributes:
            self.forms[-1].inputs[attributes["name"]] = attributes.get("value", "")
        elif self.forms and tag == "button" and "id" in attributes:
            self.forms[-1].button_ids.append(attributes["id"])


def parse_forms(html: str) -> list[Form]:
    """The forms of a page, in document order."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(
    authorize_url: str,
    username: str,
    password: str,
    *,
    http: requests.Session | None = None,
) -> str:
    """Sign in at the provider like a browser; return where it finally sends the browser.

    The result is the relying party's redirect URI with ``code``, ``state`` and ``iss`` (or
    an ``error``). Raises :class:`SignInRefusedError` if the credentials are refused.
    """
    browser = http or requests.Session()
    provider_origin = _origin(authorize_url)
    response = browser.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(_MAX_HOPS):
        if response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if _origin(target) != provider_origin:
                return target
            response = browser.get(target, allow_redirects=False, timeout=10)
            continue
        forms = [f for f in parse_forms(response.text) if "password" in f.inputs]
        if response.status_code == 401 and forms:
            raise SignInRefusedError(f"provider refused {username!r}")
        if response.status_code != 200 or not forms:
            raise AssertionError(
                f"unexpected provider page {response.status_code} at {response.url}:\n"
                f"{response.text[:500]}"
            )
        response = browser.post(
            urljoin(response.url, forms[0].action),
            data={"username": username, "password": password},
            allow_redirects=False,
            timeout=10,
        )
    raise AssertionError(f"sign-in did not finish within {_MAX_HOPS} steps")


def reset_oidc_provider(provider: LocalProvider) -> None:
    """Make the provider honest again and put back the redirect URIs it started with."""
    provider.set_mode(TamperMode.NONE)
    provider.restore_redirect_uris()


@pytest.fixture(scope="session")
def oidc_redirect_uris() -> list[str]:
    """Redirect URIs the test client starts with; override in a conftest to change them."""
    return [DEFAULT_REDIRECT_URI]


@pytest.fixture(scope="session")
def oidc_client(oidc_redirect_uris: list[str]) -> ClientSpec:
    """The test client, with a secret made for this run."""
    return ClientSpec(
        client_id=OIDC_TEST_CLIENT_ID,
        client_secret=secrets.token_urlsafe(32),
        redirect_uris=oidc_redirect_uris,
    )


@pytest.fixture(scope="session")
def oidc_users() -> dict[str, UserSpec]:
    """The provider's accounts by username: alice, bob, carol."""
    return {user.username: user for user in OIDC_TEST_USERS}


@pytest.fixture(scope="session")
def oidc_provider(oidc_client: ClientSpec) -> Iterator[LocalProvider]:
    """A real OpenID provider on loopback, with test hooks, for the whole session."""
    with LocalProvider(clients=[oidc_client], users=OIDC_TEST_USERS, test_hooks=True) as provider:
        yield provider


@pytest.fixture
def oidc(oidc_provider: LocalProvider) -> Iterator[LocalProvider]:
    """The session's provider, honest and with its start-up redirect URIs around this test."""
    reset_oidc_provider(oidc_provider)
    yield oidc_provider
    reset_oidc_provider(oidc_provider)
