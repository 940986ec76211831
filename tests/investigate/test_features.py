"""The crop-robust index: ORB features of previews, a vote shortlist, an exact match."""

from __future__ import annotations

import numpy as np
from PIL import Image

from app.imaging import resize_long_side
from app.investigate.features import (
    INDEX_FEATURES,
    Features,
    Index,
    detect,
    find_regions,
)
from tests.investigate.support import EVENT_PHOTOS, UNRELATED, decode, jpeg, real_photo


def _indexed() -> tuple[list[Image.Image], list[tuple[int, Features]]]:
    photos = [decode(real_photo(name)) for name in EVENT_PHOTOS[:2]]
    entries = [
        (n, detect(resize_long_side(photo, 1600), features=INDEX_FEATURES))
        for n, photo in enumerate(photos)
    ]
    return photos, entries


def _distractors(entries: list[tuple[int, Features]], count: int) -> list[tuple[int, Features]]:
    """Photos whose descriptors look like real ones (real ones with 40 bits flipped)."""
    rng = np.random.default_rng(7)
    pool = np.concatenate([f.descriptors for _, f in entries])
    made = []
    for k in range(count):
        d = pool[rng.integers(0, len(pool), INDEX_FEATURES)].copy()
        for _ in range(40):
            bit = rng.integers(0, 256, INDEX_FEATURES)
            d[np.arange(INDEX_FEATURES), bit // 8] ^= (1 << (bit % 8)).astype(np.uint8)
        points = rng.uniform(0, 1600, (INDEX_FEATURES, 2)).astype(np.float32)
        made.append((1000 + k, Features(points, d, 1600, 1200)))
    return made


def _crop(photo: Image.Image) -> Features:
    small = resize_long_side(photo, 1280)
    w, h = small.size
    return detect(
        decode(jpeg(small.crop((w // 4, h // 4, w * 3 // 4, h * 3 // 4)), 70)), features=3000
    )


def test_a_quarter_crop_is_found_through_the_vote_shortlist_among_distractors() -> None:
    photos, entries = _indexed()
    index = Index.build(entries + _distractors(entries, 400))

    found = find_regions(_crop(photos[1]), index, exact_rows=0)  # always shortlist

    assert [match.photo_id for match in found][:1] == [1]
    assert found[0].inliers >= 20
    assert 1 in index.shortlist(_crop(photos[1]).descriptors, 3)


def test_an_unrelated_photo_finds_nothing_through_the_shortlist() -> None:
    _, entries = _indexed()
    index = Index.build(entries + _distractors(entries, 400))
    suspect = detect(decode(real_photo(UNRELATED)), features=3000)

    assert find_regions(suspect, index, exact_rows=0) == []


def test_an_index_larger_than_the_brute_force_matcher_takes_is_searched() -> None:
    # OpenCV's brute-force matcher refuses more than 2^18 descriptors at once.
    photos, entries = _indexed()
    index = Index.build(entries + _distractors(entries, 2**18 // INDEX_FEATURES + 10))
    assert len(index) > 2**18

    found = find_regions(_crop(photos[0]), index)

    assert [match.photo_id for match in found][:1] == [0]


def test_points_folded_onto_one_spot_of_a_photo_are_no_placement() -> None:
    # Repeated texture can match many suspect points to the same few points of a photo;
    # RANSAC then "agrees" on a transform that shrinks the suspect to a dot.
    _, entries = _indexed()
    index = Index.build(entries)
    rng = np.random.default_rng(3)
    same = np.repeat(entries[0][1].descriptors[:2], 20, axis=0)
    suspect = Features(
        rng.uniform(0, 800, (40, 2)).astype(np.float32), np.ascontiguousarray(same), 800, 600
    )

    assert find_regions(suspect, index) == []
