"""Shared fixtures: settings, a migrated database, per-test rollback, Redis, a live server
and a real headless Chromium.

SQLite is the default; ``PHOTOGATE_TEST_DATABASE_URL`` switches every database fixture to
PostgreSQL and ``PHOTOGATE_TEST_REDIS_URL`` the ``redis`` fixture (and the app) to a real
Redis.  CI sets both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.auth.models import Guardian, StaffUser
from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade
from app.web.context import runtime
from tests.support.web import Clock, sign_in

pytest_plugins = ["tests.idp"]

TEST_DATABASE_URL = os.environ.get("PHOTOGATE_TEST_DATABASE_URL") or None
TEST_REDIS_URL = os.environ.get("PHOTOGATE_TEST_REDIS_URL") or None
CHROMIUM = os.environ.get("PHOTOGATE_TEST_CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without PostgreSQL, tests that need its network behaviour are deselected (counted as
    such in the summary), not skipped: they test nothing SQLite has."""
    if TEST_DATABASE_URL is not None:
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    dropped = [item for item in items if item.get_closest_marker("postgres") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (tests never touch ``public``)."""
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@dataclass
class ScratchDatabase:
    """A migrated, empty database that belongs to one fixture."""

    url: str
    drop: Any


def create_scratch_database(directory: Path, name: str) -> ScratchDatabase:
    """A new SQLite file, or a new PostgreSQL schema when the test variable is set."""
    if TEST_DATABASE_URL is None:
        url = f"sqlite:///{directory / f'{name}.db'}"
        upgrade(url)
        return ScratchDatabase(url=url, drop=lambda: None)
    schema = f"photogate_{name}_{secrets.token_hex(4)}"
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(TEST_DATABASE_URL, schema)
    upgrade(url)

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return ScratchDatabase(url=url, drop=drop)


# -- configuration and database ------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the session's migrated test database."""
    scratch = create_scratch_database(tmp_path_factory.mktemp("db"), "test")
    yield scratch.url
    scratch.drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The session's engine; the schema was built by ``alembic upgrade head``."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings: a private var/ directory, the test database, Redis when configured."""
    return Settings(
        env="test",
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        cookie_secure=False,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The application with every session inside one transaction rolled back afterwards."""
    application = create_app(settings)
    own_engine = runtime(application).database.engine
    connection = engine.connect()
    transaction = connection.begin()
    runtime(application).database.bind_to(connection)
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        transaction.rollback()
        connection.close()
        own_engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the test transaction, for factories and assertions."""
    # No application context is held open here: each request of the test then gets its own,
    # with a fresh ``g``, exactly as in production.
    db = runtime(app).database.sessionmaker()
    yield db
    db.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def clock(app: Flask) -> Clock:
    """The app's clock, starting at the real time and moving only when told."""
    moving = Clock()
    runtime(app).clock = moving
    return moving


@pytest.fixture
def login_as(app: Flask, client: FlaskClient, session: Session) -> Callable[..., FlaskClient]:
    """Sign ``client`` in as a staff member or guardian (a fresh active session) and return it."""

    def sign_in_as(user: StaffUser | Guardian) -> FlaskClient:
        sign_in(app, client, session, user)
        return client

    return sign_in_as


# -- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis() -> Iterator[Any]:
    """A real Redis when ``PHOTOGATE_TEST_REDIS_URL`` is set, else fakeredis; emptied first."""
    if TEST_REDIS_URL is not None:
        from redis import Redis

        client = Redis.from_url(TEST_REDIS_URL)
    else:
        import fakeredis

        client = fakeredis.FakeRedis()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# -- live server and browser ---------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: Flask
    settings: Settings


@pytest.fixture
def live_server_overrides() -> dict[str, Any]:
    """Extra Settings fields of the live server (a sub-directory's conftest may override)."""
    return {}


@pytest.fixture
def live_server(tmp_path: Path, live_server_overrides: dict[str, Any]) -> Iterator[LiveServer]:
    """The app on a free loopback port in a thread, on its own committed database."""
    scratch = create_scratch_database(tmp_path, "live")
    # The socket is bound first so the public URL (and redirect URIs built from it) can
    # name the real port.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, Flask(__name__), threaded=True)
    live_settings = Settings(
        env="test",
        var_dir=tmp_path / "live-var",
        database_url=scratch.url,
        redis_url=TEST_REDIS_URL,
        cookie_secure=False,
        public_url=f"http://127.0.0.1:{server.server_port}",
        **live_server_overrides,
    )
    application = create_app(live_settings)
    server.app = application
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{server.server_port}", app=application, settings=live_settings
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        runtime(application).database.engine.dispose()
        scratch.drop()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (installed by ``make test`` when missing)."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make test`, which installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Any]:
    """Open a fresh browser context (own cookies) with the given locale and return a page."""
    contexts: list[Any] = []

    def open_page(locale: str = "en-US") -> Any:
        context = browser.new_context(locale=locale)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
