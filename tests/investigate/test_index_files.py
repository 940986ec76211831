"""The feature index kept as memory-mapped files: built once per version of a scope's rows
(by housekeeping, or the first search that finds none), shared by every process, and
searched exactly as the index built in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flask import Flask
from sqlalchemy.orm import Session

from app.housekeeping import tidy
from app.investigate.features import Index, detect, find_regions
from app.investigate.index_files import cached_index, version_name
from app.investigate.models import Investigation
from app.investigate.services import refresh_index_files, scope_name, search_indexes
from app.web.context import runtime
from tests.investigate.support import (
    UNRELATED,
    decode,
    event_gallery,
    real_photo,
    real_photos,
    resized,
)
from tests.investigate.test_features import _crop, _distractors, _indexed


def test_an_index_saved_and_mapped_back_searches_as_the_one_in_memory(tmp_path: Path) -> None:
    photos, entries = _indexed()
    built = Index.build(entries + _distractors(entries, 200))
    built.save(tmp_path / "index")
    mapped = Index.load(tmp_path / "index")

    assert isinstance(mapped.descriptors, np.memmap)
    assert np.array_equal(np.asarray(mapped.descriptors), built.descriptors)
    suspect = _crop(photos[1])
    assert np.array_equal(
        mapped.shortlist(suspect.descriptors, 5), built.shortlist(suspect.descriptors, 5)
    )
    wanted = np.array([1, 1003, 999_999], np.int64)  # one of them is in no row
    for got, expected in zip(
        (mapped.subset(wanted), built.subset(wanted)), (built.subset(wanted),) * 2, strict=True
    ):
        assert np.array_equal(got.photo_ids, expected.photo_ids)
        assert np.array_equal(got.descriptors, expected.descriptors)
    found = find_regions(suspect, mapped, exact_rows=0)
    assert [m.photo_id for m in found][:1] == [1]


def test_a_version_is_built_once_and_a_new_one_replaces_it(tmp_path: Path) -> None:
    _, entries = _indexed()
    builds: list[int] = []

    def build() -> Index:
        builds.append(1)
        return Index.build(entries)

    first = cached_index(tmp_path, "school-1", (2, "t1"), build)
    again = cached_index(tmp_path, "school-1", (2, "t1"), build)
    assert len(builds) == 1  # the second process maps the files the first one wrote
    assert len(first) == len(again) == sum(len(f.descriptors) for _, f in entries)
    cached_index(tmp_path, "school-1", (3, "t2"), build)
    assert len(builds) == 2
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [version_name("school-1", (3, "t2"))]  # the older version is gone


def test_housekeeping_builds_each_schools_index_and_a_search_uses_it(
    app: Flask, session: Session
) -> None:
    gallery = event_gallery(app, session)
    held = runtime(app)
    directory = held.settings.index_dir

    report = tidy(held)

    assert report.indexes_built == [scope_name(gallery.school.id)]
    (built,) = directory.iterdir()
    assert built.name.startswith(f"school-{gallery.school.id}-")
    # Up to date: the next run builds nothing.
    assert refresh_index_files(session, directory) == []


def test_a_search_uses_the_older_files_and_the_new_rows_until_housekeeping_builds_again(
    app: Flask, session: Session
) -> None:
    gallery = event_gallery(app, session)
    held = runtime(app)
    directory = held.settings.index_dir
    tidy(held)
    (older,) = directory.iterdir()
    # A photo is added after the files were built: their version is no longer current.
    (added,) = real_photos(app, session, gallery.event, (UNRELATED,))
    case = Investigation(school_id=gallery.school.id)

    indexes = search_indexes(session, case, index_dir=directory)

    assert [p.name for p in directory.iterdir()] == [older.name]  # nothing was built
    assert len(indexes) == 2
    assert isinstance(indexes[0].descriptors, np.memmap)
    assert set(np.unique(indexes[1].photo_ids).tolist()) == {added.id}
    suspect = detect(resized(decode(real_photo(UNRELATED)), 900), features=3000)
    found = [r.photo_id for index in indexes for r in find_regions(suspect, index)]
    assert added.id in found

    # Housekeeping builds the current version; the search then maps it alone.
    assert tidy(held).indexes_built == [scope_name(gallery.school.id)]
    assert len(search_indexes(session, case, index_dir=directory)) == 1
