"""The queued path of a ZIP: the request queues the job on Redis, an RQ worker builds the
marked files from its own application against the committed database.

With ``PHOTOGATE_TEST_REDIS_URL`` the queue is the real Redis; otherwise fakeredis.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app import create_app
from app.auth.policies import SYSTEM
from app.config import Settings
from app.db import utcnow
from app.deliveries.models import Delivery
from app.downloads.models import Bundle, BundleStatus
from app.jobs import QUEUE_NAME, JobQueue, forget_worker_runtime
from app.orders.models import CartItem, PaymentMethod, Product
from app.orders.services import place_order, set_prices, settle_paid
from app.web.context import runtime
from tests.conftest import TEST_REDIS_URL, create_scratch_database
from tests.downloads.conftest import read_mark
from tests.orders.conftest import PRICES, csrf
from tests.support.gallery import make_gallery, ready_photos
from tests.support.web import sign_in


def test_a_zip_is_queued_and_a_worker_builds_it(
    tmp_path: Path, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = create_scratch_database(tmp_path, "zipworker")
    var_dir = tmp_path / "var"
    monkeypatch.setenv("PHOTOGATE_ENV", "test")
    monkeypatch.setenv("PHOTOGATE_VAR_DIR", str(var_dir))
    monkeypatch.setenv("PHOTOGATE_DATABASE_URL", scratch.url)
    if TEST_REDIS_URL:
        monkeypatch.setenv("PHOTOGATE_REDIS_URL", TEST_REDIS_URL)
    else:
        monkeypatch.delenv("PHOTOGATE_REDIS_URL", raising=False)
    app = create_app(
        Settings(env="test", var_dir=var_dir, database_url=scratch.url, redis_url=TEST_REDIS_URL)
    )
    queue = JobQueue(TEST_REDIS_URL)
    queue._redis = redis  # fakeredis has no URL: the runner is pointed at it directly
    try:
        with runtime(app).database.session_scope() as session:
            runtime(app).jobs = JobQueue(None)  # the photos are processed inline here
            gallery = make_gallery(app, session, photos=0)
            photos = ready_photos(app, session, gallery.event, 2, size=(1000, 750))
            terms = {"downloads_allowed": 3, "download_days": 30}
            set_prices(session, SYSTEM, gallery.event, dict(PRICES), **terms, now=utcnow())
            for photo in photos:
                session.add(
                    CartItem(
                        family_id=gallery.family.id, photo_id=photo.id, product=Product.DIGITAL
                    )
                )
            session.flush()
            order, _ = place_order(
                session,
                gallery.family,
                gallery.guardian,
                method=PaymentMethod.INVOICE,
                idempotency_key="queued-zip-order",
                confirmed_total_yen=None,
                pay_within=dt.timedelta(days=14),
                now=utcnow(),
            )
            settle_paid(session, order, via="cash", now=utcnow(), actor=SYSTEM)
            guardian, order_id = gallery.guardian, order.id
        runtime(app).jobs = queue
        client = app.test_client()
        with runtime(app).database.session_scope() as session:
            sign_in(app, client, session, session.merge(guardian))
        response = client.post(
            f"/downloads/orders/{order_id}/zip",
            data={"csrf_token": csrf(client, f"/orders/{order_id}")},
        )
        page = response.headers["Location"]
        assert client.get(f"{page}.json").get_json()["status"] == "queued"
        assert Queue(QUEUE_NAME, connection=redis).count == 1

        worker = SimpleWorker([Queue(QUEUE_NAME, connection=redis)], connection=redis)
        assert worker.work(burst=True)

        state = client.get(f"{page}.json").get_json()
        assert (state["status"], state["done"]) == ("ready", 2)
        data = client.get(state["url"]).data
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            reads = {read_mark(app, archive.read(name)).payload for name in archive.namelist()}
        with runtime(app).database.session_scope() as session:
            bundle = session.scalars(select(Bundle)).one()
            assert bundle.status is BundleStatus.FETCHED

            marks = set(
                session.scalars(select(Delivery.mark).where(Delivery.bundle_id == bundle.id))
            )
        assert reads == marks
        assert len(marks) == 2
    finally:
        runtime(app).database.engine.dispose()
        forget_worker_runtime()
        scratch.drop()
