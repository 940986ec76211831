"""The feature index is made when a photo is processed; photos processed before that are
indexed by the first search that sees them, and ``photogate studio reindex`` remakes rows
of an older scheme."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging import PREVIEW_LONG_SIDE
from app.imaging.keypoints import FEATURE_SCHEME, INDEX_FEATURES
from app.investigate.models import Investigation, Verdict
from app.photos import processing
from app.photos.models import PhotoFeatures
from app.studio.cli import reindex_command
from tests.investigate.support import (
    UNRELATED,
    decode,
    event_gallery,
    investigate,
    jpeg,
    real_photo,
    real_photos,
    resized,
)
from tests.support.gallery import make_gallery

Signer = Callable[..., FlaskClient]


def _row(session: Session, photo_id: int) -> PhotoFeatures | None:
    session.expire_all()
    return session.get(PhotoFeatures, photo_id)


def test_processing_a_photo_makes_its_feature_row_at_two_scales(
    app: Flask, session: Session
) -> None:
    gallery = make_gallery(app, session, photos=0)
    (photo,) = real_photos(app, session, gallery.event, ("mei_IMG_1034.heic",))

    row = _row(session, photo.id)

    assert row is not None
    assert row.scheme == FEATURE_SCHEME
    assert max(row.width, row.height) == PREVIEW_LONG_SIDE
    # The preview's points and, on top, points of every tile of the master.
    assert row.count > 2 * INDEX_FEATURES
    assert len(row.descriptors) == 32 * row.count
    assert len(row.points) == 8 * row.count


def test_the_first_search_indexes_a_photo_processed_without_a_row(
    app: Flask, session: Session, login_as: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index is the investigation's: a photo whose points cannot be made is still
    # ready, and a search makes its row from the stored preview and master.
    def broken(*_args: object) -> None:
        raise RuntimeError("no points today")

    monkeypatch.setattr(processing, "index_features", broken)
    gallery = event_gallery(app, session)
    assert all(_row(session, p.id) is None for p in gallery.photos)
    monkeypatch.undo()
    photo = gallery.photos[1]
    copy = resized(decode(real_photo("mei_Nokia Lumia 800.jpg")), 1000)

    response = investigate(login_as(gallery.admin), jpeg(copy, 80))

    assert response.status_code == 303
    session.expire_all()
    case = session.scalars(select(Investigation)).one()
    assert case.results["newly_indexed"] == len(gallery.photos)
    assert case.verdict is Verdict.PHOTO
    assert case.photo_id == photo.id
    row = _row(session, photo.id)
    assert row is not None
    assert row.scheme == FEATURE_SCHEME


def test_reindex_remakes_rows_of_the_older_scheme_and_leaves_current_ones(
    app: Flask, session: Session
) -> None:
    gallery = event_gallery(app, session)
    old, kept = gallery.photos[0], gallery.photos[1]
    row = _row(session, old.id)
    assert row is not None
    # A row as searches made it before: the preview's points only.
    row.scheme, row.count = 1, INDEX_FEATURES
    row.points, row.descriptors = (
        row.points[: 8 * INDEX_FEATURES],
        row.descriptors[: 32 * INDEX_FEATURES],
    )
    session.commit()
    before = _row(session, kept.id)
    assert before is not None
    kept_made = before.made_at

    result = app.test_cli_runner().invoke(reindex_command, ["--event", str(gallery.event.id)])

    assert result.exit_code == 0, result.output
    assert "1 photos indexed" in result.output
    remade = _row(session, old.id)
    assert remade is not None
    assert remade.scheme == FEATURE_SCHEME
    assert remade.count > INDEX_FEATURES
    untouched = _row(session, kept.id)
    assert untouched is not None
    assert untouched.made_at == kept_made


def test_an_unrelated_photo_indexes_nothing_when_every_photo_was_indexed_at_ingest(
    app: Flask, session: Session, login_as: Signer
) -> None:
    gallery = event_gallery(app, session)

    response = investigate(login_as(gallery.admin), real_photo(UNRELATED))

    assert response.status_code == 303
    session.expire_all()
    case = session.scalars(select(Investigation)).one()
    assert case.results["newly_indexed"] == 0
    assert case.verdict is Verdict.NO_MATCH
