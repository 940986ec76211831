"""Gallery benchmark: the family event page and marked previews.

Measures, in one process with the Flask test client (server time, no network):

* the event page ``GET /events/<id>`` and its JSON page ``GET /events/<id>/photos.json``
  of an event with 2,000 ready photos: page 1, and the keyset ``after`` cursor followed
  through the whole event, p50/p95 over ``--requests`` requests each; and the SQL
  statements per request (a ``before_cursor_execute`` listener on the engine) for an
  event of 20 photos against one of 2,000, which must be the same number. The page only
  reads rows, so these photos are inserted directly as READY rows; both events have the
  same albums (``--albums``, one per class of the audience);
* marked previews per second on one core: ``app.deliveries.services.marked_preview``
  (decrypt and decode the stored preview, the visible tiled overlay, the invisible mark,
  JPEG encode, encrypted cache write) on photos processed by the real pipeline from
  4000 x 3000 JPEGs, each time for a fresh delivery so the day's cache never answers,
  against a plain Pillow decode + encode of the same preview at the same JPEG quality,
  step by step, and a cached hit (a second look the same day) in the service and as a
  whole request.

OpenMP, OpenBLAS and OpenCV are held to one thread so the preview figures are one core's.
The database is SQLite in a scratch directory unless ``--database-url`` names a
PostgreSQL server: then a database ``photogate_bench_gallery`` is created next to the one
named (and dropped afterwards); the named database itself is not touched.

    .venv/bin/python bench/gallery.py --write docs/benchmarks.md
    .venv/bin/python bench/gallery.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        --write docs/benchmarks.md

Each run replaces its own database's part of the ``## Gallery`` section and keeps the
other's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PIL
from _common import machine, percentile, write_section
from PIL import Image

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from app.deliveries.models import Delivery
    from app.photos.models import Event, Photo
    from tests.support.gallery import Gallery

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Gallery"
SCRATCH_DATABASE = "photogate_bench_gallery"
MANY = 2000
FEW = 20
PHOTO_SIZE = (4000, 3000)
#: The preview route allows 120 requests a minute per address; the whole-request part
#: stays under it (first looks + cached looks).
PREVIEW_ROUTE_LIMIT = 120
_NEXT_AFTER = re.compile(r'data-next-after="(\d*)"')


def one_thread() -> None:
    """Hold the numeric libraries to one thread (before they are imported)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


# -- timing helpers ------------------------------------------------------------------------


@dataclass
class Sample:
    """Wall and CPU seconds of one timed call."""

    wall: float
    cpu: float


@contextmanager
def stopwatch(into: list[Sample]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Sample(time.perf_counter() - wall, time.process_time() - cpu))


def median_wall(samples: list[Sample]) -> float:
    return statistics.median(sample.wall for sample in samples)


def median_cpu(samples: list[Sample]) -> float:
    return statistics.median(sample.cpu for sample in samples)


class Statements:
    """Every statement the engine sends, through a ``before_cursor_execute`` listener."""

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.seen.append(statement)

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._record)


@dataclass
class Timed:
    """Server times and statement counts of a run of requests."""

    seconds: list[float] = field(default_factory=list)
    statements: Counter[int] = field(default_factory=Counter)


def get(client: FlaskClient, url: str, statements: Statements, into: Timed | None = None) -> Any:
    """One GET through the test client; anything but a 200 ends the benchmark."""
    statements.seen.clear()
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.get_data(as_text=True)!r}")
    if into is not None:
        into.seconds.append(elapsed)
        into.statements[len(statements.seen)] += 1
    return response


# -- the database and the application ------------------------------------------------------


def scratch_url(admin_url: str) -> str:
    """Create the scratch database next to ``admin_url``'s and return its URL."""
    from sqlalchemy import create_engine, make_url, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {SCRATCH_DATABASE}"))
    engine.dispose()
    return make_url(admin_url).set(database=SCRATCH_DATABASE).render_as_string(hide_password=False)


def drop_scratch(admin_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)"))
    engine.dispose()


def build_app(var_dir: Path, database_url: str) -> Flask:
    """Migrate, then the application as the tests build it (a private var/ directory)."""
    from app import create_app
    from app.config import Settings
    from app.migrate import upgrade

    upgrade(database_url)
    settings = Settings(
        env="test",
        var_dir=var_dir,
        database_url=database_url,
        cookie_secure=False,
        log_level="WARNING",
    )
    return create_app(settings)


@dataclass
class World:
    gallery: Gallery
    many: Event
    few: Event
    #: Events of FEW photos with 0, 1, ... albums: what the page costs per album.
    by_albums: dict[int, Event]
    #: Photos through the real pipeline, for the previews.
    processed: list[Photo]
    few_ids: list[int]


def event_with_rows(
    session: Session, gallery: Gallery, photos: int, albums: int, template: Photo
) -> Event:
    """An event on sale for the gallery's class with ``photos`` READY rows spread over
    ``albums`` albums (one per class of the audience; the family's class first)."""
    from sqlalchemy import insert

    from app.db import utcnow
    from app.photos.models import Album, Photo, PhotoStatus
    from tests.factories import make_classroom, make_event

    classes = [gallery.classroom] + [
        make_classroom(session, gallery.school) for _ in range(max(0, albums - 1))
    ]
    now = utcnow()
    event = make_event(
        session,
        gallery.school,
        audience=classes,
        sale_starts_at=now - dt.timedelta(days=1),
        sale_ends_at=now + dt.timedelta(days=10),
    )
    made = [
        Album(event_id=event.id, name=f"Class {classroom.label}", classroom_id=classroom.id)
        for classroom in classes[:albums]
    ]
    session.add_all(made)
    session.flush()
    rows = [
        {
            "event_id": event.id,
            "status": PhotoStatus.READY,
            "width": 4000,
            "height": 3000,
            "original_sha256": hashlib.sha256(f"{event.id}-{n}-original".encode()).hexdigest(),
            "master_sha256": hashlib.sha256(f"{event.id}-{n}-master".encode()).hexdigest(),
            "byte_size": template.byte_size,
            "wrapped_key": template.wrapped_key,
            "album_id": made[n % len(made)].id if made else None,
            "original_filename": f"IMG_{n:04}.JPG",
            "created_at": now,
            "queued_at": now,
            "processed_at": now,
            "phash": template.phash,
            "dhash": template.dhash,
        }
        for n in range(photos)
    ]
    session.execute(insert(Photo), rows)
    session.commit()
    return event


def seed(app: Flask, session: Session, *, previews: int, albums: int) -> World:
    """A school, a class, a family with a child in it and a signed-up guardian; an event
    with ``previews`` photos through the real pipeline; events of READY rows for the pages."""
    from sqlalchemy import select

    from app.photos.models import Photo
    from tests.support.gallery import make_gallery, ready_photos

    gallery = make_gallery(app, session, photos=0)
    processed = ready_photos(app, session, gallery.event, previews, size=PHOTO_SIZE)
    template = processed[0]
    many = event_with_rows(session, gallery, MANY, albums, template)
    few = event_with_rows(session, gallery, FEW, albums, template)
    by_albums = {
        count: few if count == albums else event_with_rows(session, gallery, FEW, count, template)
        for count in sorted({0, 1, albums, 2 * albums})
    }
    few_ids = list(session.scalars(select(Photo.id).where(Photo.event_id == few.id)))
    session.commit()
    return World(gallery, many, few, by_albums, processed, sorted(few_ids))


# -- the event page ------------------------------------------------------------------------


@dataclass
class PageResults:
    timings: dict[str, Timed]
    #: request -> (statements with FEW photos, statements with MANY photos)
    counts: dict[str, tuple[int, int]]
    by_albums: dict[int, tuple[int, int]]
    pages: int
    example: list[str]


def cursor_walk(client: FlaskClient, event: Event, statements: Statements) -> list[int]:
    """The ``after`` values of every page of ``event``, followed from page 1; checks that
    the walk shows every photo exactly once, in order."""
    cursors, seen, after = [0], [], 0
    while True:
        page = get(client, f"/events/{event.id}/photos.json?after={after}", statements).get_json()
        seen.extend(photo["id"] for photo in page["photos"])
        if page["next_after"] is None:
            break
        after = int(page["next_after"])
        cursors.append(after)
    if seen != sorted(set(seen)):
        raise SystemExit("the keyset pages repeat or reorder photos")
    return cursors


def count_statements(client: FlaskClient, url: str, statements: Statements) -> int:
    """Statements of one request, after one warm request of the same URL (the session
    touch, once a minute, then falls in the warm one)."""
    get(client, url, statements)
    get(client, url, statements)
    return len(statements.seen)


def page_urls(event: Event, cursor: int) -> dict[str, str]:
    return {
        "event page, page 1": f"/events/{event.id}",
        "event page, `after` cursor": f"/events/{event.id}?after={cursor}",
        "JSON page, page 1": f"/events/{event.id}/photos.json",
        "JSON page, `after` cursor": f"/events/{event.id}/photos.json?after={cursor}",
    }


def bench_pages(
    client: FlaskClient, world: World, statements: Statements, *, requests: int
) -> PageResults:
    cursors = cursor_walk(client, world.many, statements)
    html = get(client, f"/events/{world.many.id}", statements).get_data(as_text=True)
    found = _NEXT_AFTER.search(html)
    if found is None or int(found.group(1)) != cursors[1]:
        raise SystemExit("the event page's cursor is not the JSON page's")

    few_urls = page_urls(world.few, world.few_ids[len(world.few_ids) // 2])
    many_urls = page_urls(world.many, cursors[len(cursors) // 2])
    counts = {
        name: (
            count_statements(client, few_urls[name], statements),
            count_statements(client, many_urls[name], statements),
        )
        for name in many_urls
    }
    by_albums = {
        albums: (
            count_statements(client, f"/events/{event.id}", statements),
            count_statements(client, f"/events/{event.id}/photos.json", statements),
        )
        for albums, event in world.by_albums.items()
    }
    get(client, f"/events/{world.many.id}", statements)
    example = list(statements.seen)

    timings: dict[str, Timed] = {}
    runs: list[tuple[str, Callable[[int], str]]] = [
        (f"event page, page 1 ({FEW} photos)", lambda _n: f"/events/{world.few.id}"),
        ("event page, page 1", lambda _n: f"/events/{world.many.id}"),
        (
            "event page, every page by `after`",
            lambda n: f"/events/{world.many.id}?after={cursors[n % len(cursors)]}",
        ),
        ("JSON page, page 1", lambda _n: f"/events/{world.many.id}/photos.json"),
        (
            "JSON page, every page by `after`",
            lambda n: f"/events/{world.many.id}/photos.json?after={cursors[n % len(cursors)]}",
        ),
    ]
    for name, url in runs:
        print(f"  {name} …", flush=True)
        timed = timings[name] = Timed()
        for n in range(requests):
            get(client, url(n), statements, timed)
    return PageResults(timings, counts, by_albums, len(cursors), example)


# -- marked previews -----------------------------------------------------------------------

STEPS = (
    "unwrap key + cache lookup",
    "decrypt + decode",
    "overlay (cell reused: same viewer and size)",
    "embed the mark",
    "JPEG encode",
    "encrypt + write (fsync)",
)
NEW_VIEWER = "overlay, a new viewer (cell drawn)"
PLAIN_STEPS = ("plain Pillow: decode", "plain Pillow: encode")


@dataclass
class PreviewResults:
    quality: int = 0
    size: tuple[int, int] = (0, 0)
    preview_bytes: float = 0.0
    marked_bytes: list[int] = field(default_factory=list)
    first: list[Sample] = field(default_factory=list)
    plain: list[Sample] = field(default_factory=list)
    marked: list[Sample] = field(default_factory=list)
    steps: dict[str, list[Sample]] = field(
        default_factory=lambda: {name: [] for name in (*STEPS, NEW_VIEWER, *PLAIN_STEPS)}
    )
    cached: list[Sample] = field(default_factory=list)
    http_first: Timed = field(default_factory=Timed)
    http_cached: Timed = field(default_factory=Timed)


class Marker:
    """The guardian's marked previews, made by the service and step by step."""

    def __init__(self, app: Flask, world: World) -> None:
        from app.deliveries.services import MARKED_PREVIEW_QUALITY, Recipient, viewer_code
        from app.photos.blobs import PREVIEW, read_derivative
        from app.web.context import runtime

        self.quality = MARKED_PREVIEW_QUALITY
        held = runtime(app)
        self.blobs, self.watermarks = held.blobs, held.watermarks
        gallery = world.gallery
        code = viewer_code(held.keys.codes, gallery.guardian.id)
        self.overlay = f"{gallery.school.name} · {code}"
        self.fallback = f"{gallery.school.slug} · {code}"
        self.recipient = Recipient(
            guardian=gallery.guardian,
            family_id=gallery.family.id,
            session_id=None,
            device_hash=None,
            ip="127.0.0.1",
            user_agent="Mozilla/5.0 (bench)",
        )
        self.session = held.database.session(write=True)
        self.start = held.now()
        self.clean = {
            photo.id: read_derivative(self.blobs, photo, PREVIEW) for photo in world.processed
        }

    def delivery(self, photo: Photo, day: int) -> Delivery:
        """The preview delivery of ``day`` days from now (made on first call, committed)."""
        from app.deliveries.services import preview_delivery

        made = preview_delivery(
            self.session,
            photo,
            self.recipient,
            key_id=self.watermarks.current_id,
            now=self.start + dt.timedelta(days=day),
        )
        self.session.commit()
        return made

    def mark(self, photo: Photo, delivery: Delivery) -> bytes:
        from app.deliveries.services import marked_preview

        return marked_preview(
            self.blobs,
            self.watermarks,
            photo,
            delivery,
            overlay=self.overlay,
            fallback=self.fallback,
        )

    def plain(self, photo: Photo, into: list[Sample]) -> None:
        with stopwatch(into), Image.open(io.BytesIO(self.clean[photo.id])) as opened:
            opened.load()
            opened.save(io.BytesIO(), "JPEG", quality=self.quality)

    def plain_steps(self, photo: Photo, steps: dict[str, list[Sample]]) -> None:
        with stopwatch(steps[PLAIN_STEPS[0]]):
            decoded = Image.open(io.BytesIO(self.clean[photo.id]))
            decoded.load()
        with stopwatch(steps[PLAIN_STEPS[1]]):
            decoded.save(io.BytesIO(), "JPEG", quality=self.quality)
        decoded.close()

    def steps(self, photo: Photo, delivery: Delivery, steps: dict[str, list[Sample]]) -> None:
        """``marked_preview``'s steps one at a time, with its own functions, in its order
        (written under a kind of the benchmark's own, then deleted)."""
        from app.deliveries.services import decode_bgr, encode_bgr
        from app.imaging.overlay import apply_overlay
        from app.photos.blobs import PREVIEW, read_derivative

        if photo.wrapped_key is None:
            raise SystemExit(f"photo {photo.id} has no key")
        kind = f"benchstep_{delivery.mark:08x}"
        with stopwatch(steps[STEPS[0]]):
            key = self.blobs.open_key(photo.wrapped_key)
            self.blobs.exists(photo.id, kind, key)
        with stopwatch(steps[STEPS[1]]):
            pixels = decode_bgr(read_derivative(self.blobs, photo, PREVIEW))
        with stopwatch(steps[STEPS[2]]):
            shown = apply_overlay(pixels, self.overlay, fallback=self.fallback)
        with stopwatch(steps[STEPS[3]]):
            embedded = self.watermarks.keyring[delivery.key_id].embed_array(
                shown, delivery.mark, bgr=True, in_place=True
            )
        with stopwatch(steps[STEPS[4]]):
            encoded = encode_bgr(embedded, self.quality)
        with stopwatch(steps[STEPS[5]]):
            self.blobs.put(photo.id, kind, encoded, key)
        self.blobs.delete(photo.id, kind, key)
        # A viewer's first preview of a size draws the overlay's cell instead of reusing it.
        with stopwatch(steps[NEW_VIEWER]):
            apply_overlay(pixels, f"{self.overlay} {delivery.mark}", fallback=self.fallback)


def bench_previews(
    app: Flask, client: FlaskClient, world: World, statements: Statements, *, rounds: int
) -> PreviewResults:
    """``marked_preview`` for a fresh delivery per photo and round, against plain Pillow,
    step by step; then cached looks in the service and through the route."""
    marker = Marker(app, world)
    results = PreviewResults(quality=marker.quality)
    photos = world.processed
    # Deliveries of future days: today's is left for the route's first look below. The
    # process's first mark loads the engine (OpenCV, SciPy) and draws the overlay cell.
    with stopwatch(results.first):
        marker.mark(photos[0], marker.delivery(photos[0], 1000))
    for day in range(1, rounds + 1):
        for photo in photos:
            marker.plain(photo, results.plain)
            delivery = marker.delivery(photo, day)
            with stopwatch(results.marked):
                data = marker.mark(photo, delivery)
            results.marked_bytes.append(len(data))
            marker.steps(photo, delivery, results.steps)
            marker.plain_steps(photo, results.steps)
    # A second look the same day: the kept copy is decrypted.
    for n in range(200):
        photo = photos[n % len(photos)]
        delivery = marker.delivery(photo, 1)
        with stopwatch(results.cached):
            marker.mark(photo, delivery)
    marker.session.close()

    # The whole route: today's first look at each photo, then looks again (under the
    # route's limit of 120 a minute).
    get(client, "/events", statements)  # the device cookie
    for photo in photos:
        get(client, f"/gallery/photos/{photo.id}/preview.jpg", statements, results.http_first)
    for n in range(PREVIEW_ROUTE_LIMIT - len(photos) - 10):
        photo = photos[n % len(photos)]
        get(client, f"/gallery/photos/{photo.id}/preview.jpg", statements, results.http_cached)

    with Image.open(io.BytesIO(marker.clean[photos[0].id])) as opened:
        results.size = opened.size
    results.preview_bytes = statistics.mean(len(data) for data in marker.clean.values())
    return results


# -- the section ---------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds < 0.01 else f"{seconds * 1000:.0f}"


def statement_mix(statements: list[str]) -> str:
    kinds = Counter(statement.split(None, 1)[0].upper() for statement in statements)
    return ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())


def render_pages(results: PageResults, albums: int, requests: int) -> str:
    rows = []
    for name, timed in results.timings.items():
        counts = ", ".join(
            f"{count} ({times}x)" for count, times in sorted(timed.statements.items())
        )
        rows.append(
            f"| {name} | {len(timed.seconds)} | {ms(percentile(timed.seconds, 0.5))} | "
            f"{ms(percentile(timed.seconds, 0.95))} | {counts} |"
        )
    same = all(few == many for few, many in results.counts.values())
    count_rows = [
        f"| {name} | {few} | {many} |{'' if few == many else ' **differs**'}"
        for name, (few, many) in results.counts.items()
    ]
    album_rows = [
        f"| {albums_} | {page} | {json} |" for albums_, (page, json) in results.by_albums.items()
    ]
    (least, least_counts), (most, most_counts) = (
        min(results.by_albums.items()),
        max(results.by_albums.items()),
    )
    extra = (most_counts[0] - least_counts[0]) / (most - least)
    by_class = sum(1 for statement in results.example if "FROM classrooms" in statement)
    if extra == 0:
        albums_note = "The event page costs the same whatever the number of albums."
    elif extra == 1 and by_class == albums:
        albums_note = (
            "The event page sends one more statement per album: its class filter loads each "
            "album's classroom on its own (`show_event` in app/gallery/views.py); the JSON "
            "page does not."
        )
    else:
        albums_note = f"The event page sends {extra:g} more statements per album."
    begins = sum(1 for statement in results.example if statement.split(None, 1)[0] == "BEGIN")
    begin_note = (
        f" (SQLite's {begins} BEGIN are statements of their own; PostgreSQL's are not)"
        if begins
        else ""
    )
    return f"""Event of {MANY:,} ready photos in {albums} albums (one per class of its
audience), {results.pages} pages of 60 by the keyset cursor; {requests} requests per row;
"every page" cycles through all {results.pages} cursors. Server time per request (Flask
test client, no network); statements per request counted on the engine, as `statements
(requests)`.

| request | requests | p50 ms | p95 ms | statements per request |
|---|---:|---:|---:|---|
{chr(10).join(rows)}

Statements per request, {FEW} photos against {MANY:,} ({albums} albums each; the cursor
is the middle of the event): {"**the same**" if same else "**not the same**"}.

| request | {FEW} photos | {MANY:,} photos |
|---|---:|---:|
{chr(10).join(count_rows)}

One event page of {MANY:,} photos sends {statement_mix(results.example)}{begin_note}.

By the number of albums ({FEW} photos, one class per album):

| albums | event page | JSON page |
|---:|---:|---:|
{chr(10).join(album_rows)}

{albums_note}
"""


def render_previews(results: PreviewResults) -> str:
    plain_wall, plain_cpu = median_wall(results.plain), median_cpu(results.plain)
    marked_wall, marked_cpu = median_wall(results.marked), median_cpu(results.marked)
    cached = [sample.wall for sample in results.cached]
    quality = results.quality
    measures = [
        (
            f"plain Pillow: decode the stored preview + encode q{quality} (defaults)",
            ms(plain_wall),
            ms(plain_cpu),
        ),
        ("`marked_preview`, fresh delivery", ms(marked_wall), ms(marked_cpu)),
        (
            "**ratio marked / plain** (goal: at most 2x)",
            f"**{marked_wall / plain_wall:.1f}x**",
            f"**{marked_cpu / plain_cpu:.1f}x**",
        ),
        (
            "cached hit in the service (a second look the same day), p50 / p95 wall",
            f"{ms(percentile(cached, 0.5))} / {ms(percentile(cached, 0.95))}",
            ms(median_cpu(results.cached)),
        ),
        (
            "the process's first mark (engine loaded, overlay cell drawn)",
            ms(results.first[0].wall),
            ms(results.first[0].cpu),
        ),
    ]
    table = "\n".join(f"| {name} | {wall} | {cpu} |" for name, wall, cpu in measures)
    step_rows = "\n".join(
        f"| {name} | {ms(median_wall(samples))} | {ms(median_cpu(samples))} |"
        for name, samples in results.steps.items()
    )
    width, height = results.size
    first, again = results.http_first.seconds, results.http_cached.seconds
    return f"""Photos processed by the real pipeline from {PHOTO_SIZE[0]} x {PHOTO_SIZE[1]}
JPEGs; their previews are {width} x {height} ({results.preview_bytes / 1000:.0f} kB stored,
marked copy {statistics.mean(results.marked_bytes) / 1000:.0f} kB at q{quality}).
{len(results.marked)} marks, each for a fresh delivery (the cache never answers). One
thread (OMP/OpenBLAS/OpenCV); medians; CPU is the process's CPU time, wall also holds
waiting for the disk and for the other work on this machine.

| measure | wall ms | CPU ms |
|---|---:|---:|
{table}

**{1 / marked_cpu:.1f} marked previews per second per core** (CPU time;
{1 / marked_wall:.1f} per second by wall time on this machine as it was).

Step by step (the service's functions one at a time, same photos and deliveries):

| step | wall ms | CPU ms |
|---|---:|---:|
{step_rows}

The whole route `GET /gallery/photos/<id>/preview.jpg` (delivery row, mark, response):
first look of the day p50 {ms(percentile(first, 0.5))} ms ({len(first)} photos); a second
look p50 {ms(percentile(again, 0.5))} ms, p95 {ms(percentile(again, 0.95))} ms
({len(again)} requests).
"""


def reflow(markdown: str, width: int = 92) -> str:
    """Re-wrap the plain paragraphs of ``markdown``; tables, code and headings stay."""
    blocks = markdown.strip("\n").split("\n\n")
    kept = ("|", "```", "#", "- ")
    return "\n\n".join(
        block if block.startswith(kept) else textwrap.fill(" ".join(block.split()), width)
        for block in blocks
    )


def render_part(
    *, label: str, command: str, body: str, load: tuple[str, str], elapsed: float
) -> str:
    return reflow(f"""### {label}

Machine: {machine()}; Pillow {PIL.__version__}. Load average (1 min) {load[0]} at the
start, {load[1]} at the end; run time {elapsed / 60:.1f} min.

```sh
{command}
```

{body}""")


INTRO = f"""{SECTION}

The family gallery in one process with the Flask test client (server time, no network),
signed in as a guardian: the event page and its JSON page for an event of {MANY:,} ready
photos, and the marked preview (visible viewer overlay, invisible mark, JPEG, encrypted
cache) against a plain Pillow decode + encode of the same preview. `bench/gallery.py`
describes what is measured; each database's part below is replaced by its own run.
"""


def merged_section(target: Path | None, label: str, part: str) -> str:
    """The section with this database's part replaced and the other database's kept."""
    parts: dict[str, str] = {}
    if target is not None and target.exists():
        lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
        start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
        if start is not None:
            end = next(
                (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                len(lines),
            )
            current: str | None = None
            for line in lines[start + 1 : end]:
                if line.startswith("### "):
                    current = line[4:].strip()
                    parts[current] = ""
                if current is not None:
                    parts[current] += line
    parts[label] = part
    order = sorted(parts, key=lambda name: (name != "SQLite", name))
    return INTRO + "\n" + "\n".join(parts[name].rstrip("\n") + "\n" for name in order)


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--requests", type=int, default=300, help="requests per page row")
    parser.add_argument("--albums", type=int, default=3, help="albums (classes) per event")
    parser.add_argument("--photos", type=int, default=6, help="photos marked, real pipeline")
    parser.add_argument("--rounds", type=int, default=10, help="fresh marks per photo")
    parser.add_argument("--write", type=Path, default=None, help="update this markdown file")
    args = parser.parse_args()
    if args.requests < 200:
        parser.error("--requests: at least 200")

    one_thread()
    import cv2

    cv2.setNumThreads(1)
    from app.web.context import runtime
    from tests.support.web import sign_in

    started, load_start = time.perf_counter(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="photogate-bench-gallery-"))
    postgres = bool(args.database_url)
    database_url = (
        scratch_url(args.database_url) if postgres else f"sqlite:///{workdir / 'bench.db'}"
    )
    try:
        app = build_app(workdir / "var", database_url)
        database = runtime(app).database
        session = database.session(write=True)
        print(f"making {args.photos} photos of {PHOTO_SIZE} and the events …", flush=True)
        world = seed(app, session, previews=args.photos, albums=args.albums)
        client = app.test_client()
        sign_in(app, client, session, world.gallery.guardian)
        session.close()
        statements = Statements(database.engine)
        print("event pages …", flush=True)
        pages = bench_pages(client, world, statements, requests=args.requests)
        print("marked previews …", flush=True)
        previews = bench_previews(app, client, world, statements, rounds=args.rounds)
        statements.close()
        database.engine.dispose()
    finally:
        if postgres:
            drop_scratch(args.database_url)
        shutil.rmtree(workdir, ignore_errors=True)

    label = "PostgreSQL" if postgres else "SQLite"
    command = " ".join([".venv/bin/python bench/gallery.py", *sys.argv[1:]])
    part = render_part(
        label=label,
        command=command,
        body=render_pages(pages, args.albums, args.requests) + "\n" + render_previews(previews),
        load=(load_start, load_average()),
        elapsed=time.perf_counter() - started,
    )
    section = merged_section(args.write, label, part)
    print(section)
    print("One event page's statements:")
    for statement in pages.example:
        print("  ", " ".join(statement.split())[:160])
    if args.write is not None:
        write_section(args.write, SECTION, section)
        print(f"written to {args.write}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
