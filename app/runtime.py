"""What a running PhotoGate process holds: settings, secrets, database, blob store, keys,
job queue and clock — built once, the same way for the web app, a worker and a command.

No Flask here: :func:`app.create_app` keeps the runtime in the application and
:mod:`app.web.context` hands its parts to views; jobs receive it as their first argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.config import Secrets, Settings
from app.db import Database, make_engine, utcnow
from app.jobs import Job, JobQueue
from app.keys import DerivedKeys, WatermarkKeys
from app.photos.blobs import make_blobs
from app.photos.limits import UploadLimits, upload_limits
from app.storage import EncryptedBlobs

if TYPE_CHECKING:
    from app.auth.oidc import OidcClient
    from app.orders.stripe import StripeGateway


@dataclass
class Runtime:
    """The long-lived parts of one process."""

    settings: Settings
    secrets: Secrets = field(repr=False)
    database: Database
    blobs: EncryptedBlobs
    keys: DerivedKeys = field(repr=False)
    watermarks: WatermarkKeys
    jobs: JobQueue
    #: The source of "now"; tests replace it to move time instead of sleeping.
    clock: Callable[[], dt.datetime] = utcnow
    #: The OpenID Connect client (web processes only).
    oidc: OidcClient | None = None
    #: Stripe Checkout, when the settings configure it.
    stripe: StripeGateway | None = None

    @property
    def limits(self) -> UploadLimits:
        return upload_limits(self.settings)

    def now(self) -> dt.datetime:
        return self.clock()

    def enqueue(self, func: Job, *args: Any, job_id: str | None = None) -> str | None:
        """Run or queue ``func(self, *args)``; see :class:`app.jobs.JobQueue`."""
        return self.jobs.enqueue(self, func, *args, job_id=job_id)


def build_runtime(settings: Settings, secrets: Secrets | None = None) -> Runtime:
    """Everything a process needs, from ``settings`` (secrets read unless given)."""
    # The orders feature (and the Stripe library) load only when a runtime is built.
    from app.orders.stripe import stripe_gateway

    secrets = secrets or settings.load_secrets()
    return Runtime(
        settings=settings,
        secrets=secrets,
        database=Database(make_engine(settings.database_url)),
        blobs=make_blobs(settings, secrets),
        keys=DerivedKeys.from_secrets(secrets),
        watermarks=WatermarkKeys.from_secrets(secrets),
        jobs=JobQueue(settings.redis_url),
        stripe=stripe_gateway(settings),
    )
