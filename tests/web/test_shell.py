from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.errors import Conflict, Forbidden, NotFound
from tests.support.web import csrf_token

#: The language cookie of the embedded http default (Secure deployments add __Host-).
LANGUAGE_COOKIE = "photogate-lang"


def test_healthz_answers_without_touching_dependencies(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_redis(client: FlaskClient, settings: Settings) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["checks"]["database"] == "ok"
    if settings.redis_url:
        assert response.json["checks"]["redis"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        var_dir=tmp_path,
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
    )
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"]["database"] == "unreachable"


def test_readyz_is_503_when_redis_is_unreachable(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        env="test", var_dir=tmp_path, database_url=database_url, redis_url="redis://127.0.0.1:1/0"
    )
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"] == {"database": "ok", "redis": "unreachable"}


@pytest.mark.parametrize(
    ("language", "expected_lang", "expected_text"),
    [
        ("en-US,en;q=0.9", "en", "School photos, safely"),
        ("ja-JP,ja;q=0.9,en;q=0.5", "ja", "学校の写真を、安全に"),
        ("fr-FR", "ja", "学校の写真を、安全に"),
    ],
)
def test_language_follows_accept_language(
    client: FlaskClient, language: str, expected_lang: str, expected_text: str
) -> None:
    html = client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
    assert f'<html lang="{expected_lang}">' in html
    assert expected_text in html


def test_language_switch_sets_a_cookie_that_wins_over_the_browser(client: FlaskClient) -> None:
    token = csrf_token(client)
    response = client.post(
        "/language", data={"csrf_token": token, "language": "en", "next": "/?x=1"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/?x=1"
    cookie = client.get_cookie(LANGUAGE_COOKIE)
    assert cookie is not None
    assert cookie.value == "en"
    assert cookie.http_only
    html = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "School photos, safely" in html


def test_language_switch_needs_acsrf_token(client: FlaskClient) -> None:
    response = client.post("/language", data={"language": "en"})
    assert response.status_code == 400
    assert client.get_cookie(LANGUAGE_COOKIE) is None


def test_language_switch_refuses_a_foreigncsrf_token(app: Flask) -> None:
    other = app.test_client()
    foreign = csrf_token(other)
    client = app.test_client()
    client.get("/")
    response = client.post("/language", data={"csrf_token": foreign, "language": "en"})
    assert response.status_code == 400
    assert client.get_cookie(LANGUAGE_COOKIE) is None


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
        "/%0d%0aLocation:%20https://evil.example",
    ],
)
def test_language_switch_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    token = csrf_token(client)
    response = client.post(
        "/language", data={"csrf_token": token, "language": "ja", "next": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_unsupported_language_is_ignored(client: FlaskClient) -> None:
    token = csrf_token(client)
    client.post("/language", data={"csrf_token": token, "language": "xx"})
    assert client.get_cookie(LANGUAGE_COOKIE) is None


def test_security_headers_are_present(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # http outside production


def test_pages_have_no_inline_script_or_external_assets(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert re.search(r"""(src|href)=["']https?://""", html) is None
    assert re.search(r"<[^>]+\son[a-z]+\s*=", html) is None  # no inline event handlers


def test_session_cookie_flags(client: FlaskClient) -> None:
    client.get("/")
    cookie = client.get_cookie("photogate")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_static_assets_are_served(client: FlaskClient) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


def _add_failing_routes(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    def not_found() -> str:
        raise NotFound

    def forbidden() -> str:
        raise Forbidden("Only the school administrator can do this.")

    def conflict() -> str:
        raise Conflict

    def limited() -> str:
        abort(429)

    for rule, view in (
        ("/_boom", boom),
        ("/_nf", not_found),
        ("/_forbidden", forbidden),
        ("/_conflict", conflict),
        ("/_limited", limited),
        ("/api/_boom", boom),
    ):
        app.add_url_rule(rule, view_func=view, endpoint=rule)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/nowhere", 404, "Page not found"),
        ("/_nf", 404, "Page not found"),
        ("/_forbidden", 403, "Only the school administrator can do this."),
        ("/_conflict", 409, "already exists"),
        ("/_limited", 429, "Too many requests"),
        ("/_boom", 500, "Something went wrong on our side"),
    ],
)
def test_error_pages(app: Flask, path: str, status: int, text: str) -> None:
    _add_failing_routes(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get(path, headers={"Accept-Language": "en"})
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert text in body
    assert "Traceback" not in body
    assert "secret internal detail" not in body


def test_errors_are_translated(app: Flask) -> None:
    response = app.test_client().get("/nowhere", headers={"Accept-Language": "ja"})
    assert "ページが見つかりません" in response.get_data(as_text=True)


def test_api_errors_are_json_without_details(app: Flask) -> None:
    _add_failing_routes(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/api/_boom")
    assert response.status_code == 500
    assert response.json is not None
    assert response.json["status"] == 500
    assert "secret internal detail" not in response.get_data(as_text=True)


def test_method_not_allowed_keeps_allow_header(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_oversize_body_is_413(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = app.test_client().post(
        "/language", data={"blob": "x" * 4096}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)
