"""Typed access, for views and request hooks, to what the running application holds.

Everything long-lived sits in one :class:`~app.runtime.Runtime` under
``app.extensions["photogate"]``; these accessors are the only way views reach it.  The
request's database session is opened on first use and closed (rolled back if the view did
not commit) when the request ends.  A request that may change things (anything but GET,
HEAD and OPTIONS) gets a session whose transactions begin as writers, see
:mod:`app.db`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.keys import DerivedKeys, WatermarkKeys
from app.photos.limits import UploadLimits
from app.runtime import Runtime
from app.storage import EncryptedBlobs, KeyRing

if TYPE_CHECKING:
    from app.auth.oidc import OidcClient
    from app.orders.stripe import StripeGateway

RUNTIME_KEY = "photogate"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def install_runtime(app: Flask, runtime: Runtime) -> None:
    """Keep ``runtime`` in ``app`` and close each request's session when it ends."""
    app.extensions[RUNTIME_KEY] = runtime
    app.teardown_appcontext(_close_session)


def runtime(app: Flask | None = None) -> Runtime:
    """The runtime of ``app`` (the current application by default)."""
    target = app if app is not None else current_app
    held: Runtime = target.extensions[RUNTIME_KEY]
    return held


def settings() -> Settings:
    return runtime().settings


def database() -> Database:
    return runtime().database


def blobs() -> EncryptedBlobs:
    return runtime().blobs


def watermarks() -> WatermarkKeys:
    return runtime().watermarks


def keys() -> DerivedKeys:
    return runtime().keys


def limits() -> UploadLimits:
    return runtime().limits


def now() -> dt.datetime:
    """The current time of the running application, timezone-aware UTC."""
    return runtime().now()


def db_session() -> Session:
    """The session of the current request (or app context), opened on first use."""
    session: Session | None = g.get("_db_session")
    if session is None:
        write = has_request_context() and request.method not in _SAFE_METHODS
        session = runtime().database.session(write=write)
        g._db_session = session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("_db_session", None)
    if session is not None:
        # Anything the view did not commit is discarded: no half-written rows.
        session.rollback()
        session.close()


def oidc_client() -> OidcClient:
    """The OpenID Connect client of the web application."""
    client = runtime().oidc
    if client is None:  # pragma: no cover - create_app always sets it
        raise RuntimeError("the OpenID Connect client is not configured")
    return client


def kek() -> KeyRing:
    """The key-encryption keys: the current one seals, every kept one opens."""
    return runtime().blobs.keyring


def stripe_gateway() -> StripeGateway | None:
    """Stripe Checkout, or None when this installation does not offer it."""
    return runtime().stripe
