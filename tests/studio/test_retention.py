"""Retention: originals and derivatives deleted N days after the sale window closes, with a
deletion record and no image data left behind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import StaffRole
from app.auth.policies import SYSTEM
from app.db import utcnow
from app.errors import Invalid
from app.photos.blobs import MASTER
from app.photos.models import Photo, PhotoStatus
from app.photos.queries import visible_photos
from app.storage import BlobNotFoundError, EncryptedBlobs
from app.studio.models import PhotoDeletion
from app.studio.services import (
    DEFAULT_RETENTION_DAYS,
    delete_blobs,
    purge_due_at,
    purge_expired_photos,
    set_retention,
)
from app.web.context import runtime
from tests.factories import make_staff
from tests.studio.conftest import Studio
from tests.studio.support import api_upload, blob_files, photo_bytes


def _upload(client: FlaskClient, session: Session, studio: Studio, seed: int) -> Photo:
    response = api_upload(client, studio.token, studio.event.id, photo_bytes(seed=seed))
    assert response.status_code == 201
    photo = session.get(Photo, response.get_json()["photo"]["id"])
    assert photo is not None
    return photo


def test_default_retention_is_ninety_days_after_the_sale(studio: Studio) -> None:
    assert DEFAULT_RETENTION_DAYS == 90
    assert purge_due_at(studio.event) == studio.event.sale_ends_at + dt.timedelta(days=90)


def test_retention_deletes_blobs_and_image_data_and_records_it(
    *,
    app: Flask,
    client: FlaskClient,
    session: Session,
    studio: Studio,
    blobs: EncryptedBlobs,
) -> None:
    photos = [_upload(client, session, studio, seed) for seed in range(2)]
    keys = {photo.id: photo.wrapped_key for photo in photos}
    blob_dir: Path = runtime(app).settings.blob_dir
    assert len(blob_files(blob_dir)) == 8
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=studio.event.school_id)
    set_retention(session, admin, studio.event, 30)
    ends = studio.event.sale_ends_at

    early = purge_expired_photos(session, blobs, now=ends + dt.timedelta(days=29))
    assert early.photos == 0

    result = purge_expired_photos(session, blobs, now=ends + dt.timedelta(days=30, hours=1))
    session.commit()
    deleted = delete_blobs(blobs.store, result.doomed)

    assert result.photos == 2
    assert result.blobs == 8
    assert deleted == 8
    assert result.events == {studio.event.id: 2}
    assert blob_files(blob_dir) == []
    for photo in photos:
        session.refresh(photo)
        assert photo.status is PhotoStatus.PURGED
        assert photo.wrapped_key is None
        assert photo.original_filename is None
        assert photo.purged_at is not None
        key = keys[photo.id]
        assert key is not None
        with pytest.raises(BlobNotFoundError):
            blobs.get(photo.id, MASTER, key)
    assert visible_photos(session, studio.event) == []
    records = session.scalars(select(PhotoDeletion).order_by(PhotoDeletion.photo_id)).all()
    assert [r.photo_id for r in records] == [p.id for p in photos]
    for record in records:
        assert record.event_id == studio.event.id
        assert record.school_id == studio.event.school_id
        assert record.reason == "retention"
        assert record.blobs_deleted == 4
        assert "30 days" in record.details
    # Nothing left to do the second time.
    assert purge_expired_photos(session, blobs, now=ends + dt.timedelta(days=31)).photos == 0


def test_purge_pass_is_limited_and_resumes(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    for seed in range(3):
        _upload(client, session, studio, seed)
    later = studio.event.sale_ends_at + dt.timedelta(days=DEFAULT_RETENTION_DAYS + 1)

    first = purge_expired_photos(session, blobs, now=later, limit=2)
    second = purge_expired_photos(session, blobs, now=later, limit=2)

    assert (first.photos, second.photos) == (2, 1)


def test_event_still_on_sale_is_never_purged(
    client: FlaskClient, session: Session, studio: Studio, blobs: EncryptedBlobs
) -> None:
    _upload(client, session, studio, 1)
    studio.event.retention_days = 1
    result = purge_expired_photos(session, blobs, now=studio.event.sale_ends_at)
    assert result.photos == 0


def test_retention_is_bounded(session: Session, studio: Studio) -> None:
    with pytest.raises(Invalid):
        set_retention(session, SYSTEM, studio.event, 0)
    with pytest.raises(Invalid):
        set_retention(session, SYSTEM, studio.event, 10_000)
    set_retention(session, SYSTEM, studio.event, None)
    assert studio.event.retention_days is None
    assert purge_due_at(studio.event) - studio.event.sale_ends_at == dt.timedelta(days=90)
    assert utcnow() < purge_due_at(studio.event)
