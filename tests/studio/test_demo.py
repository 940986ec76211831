"""The demo event's generated photos go through the real pipeline, and the event sells."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app import create_app
from app.config import Settings
from app.demo import DEMO_PHOTO_COUNT, DEMO_PRICES, seed_demo
from app.orders.models import Product
from app.orders.services import price_list_of
from app.photos.blobs import MASTER, ORIGINAL, PREVIEW, THUMBNAIL
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.queries import visible_photos
from app.web.context import runtime
from tests.conftest import create_scratch_database
from tests.studio.support import SIGNATURES, assert_clean_large_jpeg, blob_files


def test_demo_photos_are_stored_encrypted_and_ready(tmp_path: Path) -> None:
    scratch = create_scratch_database(tmp_path, "demo")
    settings = Settings(env="test", var_dir=tmp_path / "var", database_url=scratch.url)
    app = create_app(settings)
    database = runtime(app).database
    try:
        with database.session_scope() as session:
            seed_demo(session, runtime(app))
        with database.session_scope() as session:
            seed_demo(session, runtime(app))  # a second run keeps the photos as they are

        blobs = runtime(app).blobs
        with database.session_scope() as session:
            event = session.scalar(select(Event))
            assert event is not None
            photos = session.scalars(select(Photo).order_by(Photo.id)).all()
            assert len(photos) == DEMO_PHOTO_COUNT
            assert {p.status for p in photos} == {PhotoStatus.READY}
            assert visible_photos(session, event) == list(photos)
            assert all(p.uploaded_by_id is not None for p in photos)
            for photo in photos:
                assert photo.wrapped_key is not None
                assert blobs.get(photo.id, ORIGINAL, photo.wrapped_key).startswith(b"\xff\xd8")
                for kind in (MASTER, PREVIEW, THUMBNAIL):
                    assert_clean_large_jpeg(blobs.get(photo.id, kind, photo.wrapped_key))
            # The demo sells: the event has prices and receipts name a seller.
            price_list = price_list_of(session, event.id)
            assert price_list is not None
            assert price_list.price_of(Product.DIGITAL) == DEMO_PRICES["digital"]
            assert event.school.seller_name
        files = blob_files(settings.blob_dir)
        assert len(files) == 4 * DEMO_PHOTO_COUNT
        assert not any(path.read_bytes().startswith(SIGNATURES) for path in files)
    finally:
        database.engine.dispose()
        scratch.drop()
