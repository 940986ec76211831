"""Security headers, cookie flags, and rate limits that survive a Redis outage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import create_app
from app.auth.local_provider import LocalProvider, UserSpec
from app.auth.models import StaffRole
from app.config import Settings
from tests.auth.support import (
    csrf_token,
    family_sign_in,
    rolled_back_app,
    staff_account,
    staff_sign_in,
)
from tests.support.web import Clock


def test_csp_lists_the_providers_for_form_action_and_no_inline_script(
    client: FlaskClient, oidc: LocalProvider
) -> None:
    csp = client.get("/signin").headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert f"form-action 'self' {oidc.base_url}" in csp
    assert "unsafe-inline" not in csp


def test_authenticated_pages_are_not_cached(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    family_sign_in(client, oidc_users["alice"])
    response = client.get("/family")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_hsts_only_in_production(tmp_path: Path, database_url: str) -> None:
    secrets_dir = tmp_path / "s"
    secrets_dir.mkdir()
    files = {}
    for name in ("flask_secret", "watermark_key", "kek"):
        (secrets_dir / name).write_text("k" * 64)
        files[name] = secrets_dir / name
    production = Settings(
        env="production",
        var_dir=tmp_path,
        database_url="postgresql+psycopg://x@127.0.0.1:1/x",
        cookie_secure=True,
        public_url="https://photos.example.test",
        secret_files=files,
    )
    response = create_app(production).test_client().get("/healthz", base_url="https://x")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_cookies_use_the_host_prefix_and_secure_when_configured(
    settings: Settings, engine: Engine, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    with rolled_back_app(settings.with_overrides(cookie_secure=True), engine) as secure:
        client = secure.test_client()
        html = client.get("/signin", base_url="https://localhost").get_data(as_text=True)
        token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        response = client.post(
            "/auth/login/local",
            data={"csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/signin"},
        )
        cookies = response.headers.getlist("Set-Cookie")
        login = next(c for c in cookies if c.startswith("__Host-photogate-login-"))
        for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
            assert flag in login
        assert "Domain=" not in login
        session_cookie = client.get_cookie("__Host-photogate", domain="localhost")
        assert session_cookie is not None
        assert session_cookie.secure


def test_session_cookie_flags_after_sign_in(
    client: FlaskClient, oidc: LocalProvider, oidc_users: dict[str, UserSpec]
) -> None:
    response = family_sign_in(client, oidc_users["alice"])
    sid = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("photogate-sid="))
    assert "HttpOnly" in sid
    assert "SameSite=Lax" in sid
    assert "Path=/" in sid


def test_csrf_missing_or_foreign_token_is_refused_on_staff_sign_in(
    app: Flask, session: Session
) -> None:
    user, password = staff_account(session)
    victim, attacker = app.test_client(), app.test_client()
    victim.get("/staff/signin")
    missing = victim.post("/staff/signin", data={"email": user.email, "password": password})
    assert missing.status_code == 400
    foreign = csrf_token(attacker, "/staff/signin")
    response = victim.post(
        "/staff/signin", data={"csrf_token": foreign, "email": user.email, "password": password}
    )
    assert response.status_code == 400
    assert victim.get("/staff").status_code == 302


def test_login_start_is_rate_limited_per_ip_with_retry_after(
    client: FlaskClient, oidc: LocalProvider
) -> None:
    token = csrf_token(client, "/signin")
    statuses = [
        client.post("/auth/login/local", data={"csrf_token": token}).status_code for _ in range(21)
    ]
    assert statuses[:20] == [303] * 20
    assert statuses[20] == 429
    limited = client.post("/auth/login/local", data={"csrf_token": token})
    assert int(limited.headers["Retry-After"]) > 0
    # Another address is not affected.
    other = client.post(
        "/auth/login/local", data={"csrf_token": token}, environ_base={"REMOTE_ADDR": "192.0.2.8"}
    )
    assert other.status_code == 303


def test_limits_key_on_the_forwarded_address_behind_a_trusted_proxy(
    settings: Settings, engine: Engine, oidc: LocalProvider
) -> None:
    with rolled_back_app(settings.with_overrides(trusted_proxies=1), engine) as proxied:
        client = proxied.test_client()
        html = client.get("/signin").get_data(as_text=True)
        token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]

        def start(forwarded: str) -> int:
            return client.post(
                "/auth/login/local",
                data={"csrf_token": token},
                headers={"X-Forwarded-For": forwarded},
            ).status_code

        assert [start("198.51.100.1") for _ in range(21)][-1] == 429
        assert start("198.51.100.2") == 303


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def doomed_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A private redis-server on a free port, for tests that kill it (never the shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server is needed for the Redis outage test (apt-get install redis-server)"
        )
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the private redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def test_limits_hold_when_redis_dies_mid_run(
    settings: Settings,
    engine: Engine,
    oidc: LocalProvider,
    doomed_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = doomed_redis
    with rolled_back_app(settings.with_overrides(redis_url=url), engine) as application:
        from redis import Redis

        probe = Redis.from_url(url)
        client = application.test_client()
        token = csrf_token(client, "/signin")

        def start() -> int:
            return client.post("/auth/login/local", data={"csrf_token": token}).status_code

        before = [start() for _ in range(5)]
        assert before == [303] * 5
        # The counters really are in this Redis.
        assert any(b"photogate" in key for key in probe.keys("*"))
        probe.close()
        process.kill()
        process.wait(timeout=10)
        after = [start() for _ in range(25)]
        assert 500 not in after
        assert after[:20] == [303] * 20
        assert 429 in after
        # Other pages keep working while Redis is down.
        assert client.get("/signin").status_code == 200


def test_staff_pages_send_no_store_and_nosniff(app: Flask, session: Session, clock: Clock) -> None:
    user, password = staff_account(session, StaffRole.OPERATOR)
    client = app.test_client()
    staff_sign_in(client, user, password, clock.now)
    response = client.get("/staff/accounts")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
