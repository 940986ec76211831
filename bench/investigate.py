"""Investigation benchmark: building the index files, the first search, time to verdict.

One school's event holds real photos processed by the real pipeline (one a 12 MP master,
downloaded once: the marked file is made by ``Watermarker.embed_jpeg`` exactly as the
download path will; another looked at as a marked preview by a guardian), plus synthetic
index rows: READY photo rows with random perceptual hashes and feature rows whose ORB
descriptors are real ones with 40 of 256 bits flipped (so the vote table sees realistic
byte statistics), for each of ``--sizes`` photos in all. Each synthetic row holds
``--points`` points: by default the most a 12 MP photo's row can hold (the preview's 500
and 30 in each of the 48 tiles of its master at 3200 x 2400), so sizes and times are an
upper bound for 12 MP photos; plain walls and skies leave real rows smaller; 500 is what a
preview alone holds. ``--run SIZES:POINTS`` (repeatable) makes runs of their own, each in a
fresh scratch database. For each size, in one process, with OpenMP, OpenBLAS and OpenCV
held to one thread:

* the build of the scope's index files as housekeeping does it (``refresh_index_files``
  into a scratch index directory, ``--index-dir`` to put it elsewhere): wall and CPU time,
  the size of the ``.npy`` files, the process's peak RSS during the build;
* the version query every search starts with (it reads the scope's feature rows);
* the first search of a process once the files exist: the in-process cache emptied so the
  files are mapped afresh, and their pages evicted from the OS page cache first
  (``posix_fadvise``; ``fincore`` tells how much stayed); then the same again with the pages
  it read still cached, as another process's first search;
* each suspect, warm: ``open_case`` (validation, decode, SHA-256, pHash, encrypted store)
  + ``search_case(..., index_dir=)`` (blind read, candidates, informed reads), which is
  what a POST to the console costs on the server: a 12 MP copy of the download (q85), a
  1280 x 800 screenshot of the marked preview (PNG), a 512 px face-sized crop of the
  download (q80), a 400 px region of the download pasted at 80 % and 2 degrees into an
  unrelated picture (q80), an unmarked copy of an event photo (1000 px, q80) and an
  unrelated photo;
* the growth of RSS over those searches, private memory apart from mapped index pages
  (file-backed, shared by every process that maps the files).

Whether the whole page cache can be dropped (``/proc/sys/vm/drop_caches``, root only) is
tried once at the start and reported; the cold search does not rely on it.

    .venv/bin/python bench/investigate.py --run 1000,10000:1940 \
        --run 1000,10000,100000:500 --write docs/benchmarks.md

The database is SQLite in a scratch directory.
"""

from __future__ import annotations

import argparse
import gc
import io
import itertools
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PHOTOS = ROOT.parent / "shared" / "testdata" / "photos"

if TYPE_CHECKING:
    from flask import Flask
    from PIL import Image
    from sqlalchemy.orm import Session


def one_thread() -> None:
    """Hold the numeric libraries to one thread (before they are imported)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def build_app(var_dir: Path, database_url: str) -> Flask:
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


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


@dataclass
class World:
    suspects: dict[str, bytes]
    expected: dict[str, str]
    school_id: int
    template_id: int
    pool: Any  # real descriptors to make synthetic rows from
    points_per_photo: int  # points of each synthetic row


def unmarked_master(held: Any, photo: Any) -> Image.Image:
    from app.photos.blobs import MASTER, read_derivative

    image = decode(read_derivative(held.blobs, photo, MASTER))
    image.thumbnail((1000, 1000))
    return image


def make_suspects(
    marked: Image.Image, shown: Image.Image, unmarked: Image.Image
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The leaked copies, and the verdict each should get."""
    from PIL import Image

    # A 1280 x 800 screen with the preview shown as large as the browser window allows.
    screen = Image.new("RGB", (1280, 800), (250, 250, 250))
    shown.thumbnail((1280, 700))
    screen.paste(shown, ((1280 - shown.width) // 2, 90))
    unrelated = decode((PHOTOS / "kodak_kodim23.png").read_bytes()).resize((1200, 800))

    def pasted(centre_x: int, centre_y: int) -> bytes:
        background = unrelated.copy()
        region = marked.crop((centre_x - 200, centre_y - 200, centre_x + 200, centre_y + 200))
        region = region.resize((320, 320)).rotate(2, resample=Image.Resampling.BICUBIC)
        background.paste(region.crop((8, 8, 312, 312)), (450, 220))
        return jpeg(background, 80)

    w, h = marked.size
    suspects = {
        "12 MP copy of a download (q85)": jpeg(marked, 85),
        "1280 px screenshot of a preview (PNG)": png(screen),
        "512 px crop of a download (q80)": jpeg(
            marked.crop((w // 2 - 256, h // 3 - 256, w // 2 + 256, h // 3 + 256)), 80
        ),
        # The middle of the upper third: plain grey wall (nothing to find it by).
        "400 px region pasted at 80 % and 2 degrees (q80)": pasted(w // 2, h // 3),
        # The chain hanging in the picture (its own detail).
        "400 px region of the chain pasted at 80 % and 2 degrees (q80)": pasted(
            w * 32 // 100, h // 2
        ),
        "unmarked copy of an event photo (1000 px)": jpeg(unmarked, 80),
        "unrelated photo": (PHOTOS / "skimage_coffee.png").read_bytes(),
    }
    expected = {
        "12 MP copy of a download (q85)": "delivery",
        "1280 px screenshot of a preview (PNG)": "delivery",
        "512 px crop of a download (q80)": "delivery",
        "400 px region pasted at 80 % and 2 degrees (q80)": "delivery",
        "400 px region of the chain pasted at 80 % and 2 degrees (q80)": "delivery",
        "unmarked copy of an event photo (1000 px)": "photo",
        "unrelated photo": "no_match",
    }
    return suspects, expected


def seed(app: Flask, session: Session, points: int) -> World:
    """The school, its real photos, one download and one preview, and the suspects."""
    from PIL import Image, ImageOps

    from app.deliveries.models import Delivery, DeliveryKind
    from app.deliveries.services import marked_preview
    from app.photos.blobs import MASTER, read_derivative
    from app.web.context import runtime
    from tests.investigate.support import real_photos
    from tests.support.gallery import make_gallery

    held = runtime(app)
    gallery = make_gallery(app, session, photos=0)
    # A 12 MP photo: the 16 MP Leica file brought to 4240 x 2832 and saved as a camera would.
    with Image.open(PHOTOS / "mei_Leica T (Typ 701).jpg") as opened:
        big = ImageOps.exif_transpose(opened).convert("RGB").resize((4240, 2832))
    twelve = jpeg(big, 92)
    names = ("ori_Landscape_0.jpg", "mei_Nokia Lumia 800.jpg", "mei_Issue 308.jpg")
    photos = real_photos(app, session, gallery.event, names)
    from app.auth.policies import SYSTEM
    from app.db import utcnow
    from app.photos.processing import process_photo
    from app.studio.services import IncomingFile, upload_photos

    outcome = upload_photos(
        session,
        held.blobs,
        SYSTEM,
        gallery.event,
        [IncomingFile("twelve.jpg", twelve)],
        album_id=None,
        limits=held.limits,
        now=utcnow(),
    )[0]
    session.commit()
    if outcome.photo is None:
        raise RuntimeError("the 12 MP photo was not accepted")
    process_photo(held.database.session_scope, held.blobs, outcome.photo.id, held.limits, utcnow)
    session.refresh(outcome.photo)
    master_photo = outcome.photo

    download = Delivery(
        mark=secrets.randbelow(2**32),
        kind=DeliveryKind.DOWNLOAD,
        photo_id=master_photo.id,
        guardian_id=gallery.guardian.id,
        family_id=gallery.family.id,
        ip="203.0.113.7",
        key_id=held.watermarks.current_id,
        created_at=utcnow(),
    )
    preview = Delivery(
        mark=secrets.randbelow(2**32),
        kind=DeliveryKind.PREVIEW,
        photo_id=photos[0].id,
        guardian_id=gallery.guardian.id,
        family_id=gallery.family.id,
        ip="203.0.113.8",
        key_id=held.watermarks.current_id,
        preview_day=utcnow().date(),
        created_at=utcnow(),
    )
    session.add_all([download, preview])
    session.commit()
    marked = decode(
        held.watermarks.current().embed_jpeg(
            read_derivative(held.blobs, master_photo, MASTER), download.mark
        )
    )
    shown = decode(
        marked_preview(
            held.blobs,
            held.watermarks,
            photos[0],
            preview,
            overlay="School · AB12CD",
            fallback="school · AB12CD",
        )
    )
    suspects, expected = make_suspects(marked, shown, unmarked_master(held, photos[2]))
    # The processing job indexed the real photos.
    import numpy as np
    from sqlalchemy import select

    from app.photos.models import PhotoFeatures

    pool = np.concatenate(
        [
            np.frombuffer(row, np.uint8).reshape(-1, 32)
            for row in session.scalars(select(PhotoFeatures.descriptors))
        ]
    )
    if session.get(PhotoFeatures, master_photo.id) is None:
        raise RuntimeError("the 12 MP photo was not indexed when it was processed")
    return World(suspects, expected, gallery.school.id, master_photo.id, pool, points)


def add_synthetic(app: Flask, session: Session, world: World, count: int, start: int) -> None:
    """``count`` READY photo rows of the school with random hashes and realistic features."""
    import hashlib

    import numpy as np
    from sqlalchemy import insert

    from app.db import utcnow
    from app.imaging.keypoints import FEATURE_SCHEME
    from app.photos.models import Photo, PhotoFeatures, PhotoStatus

    template = session.get(Photo, world.template_id)
    if template is None:
        raise RuntimeError("no template photo")
    event = template.event
    rng = np.random.default_rng(start)
    now = utcnow()
    batch = 2000
    for first in range(start, start + count, batch):
        n = min(batch, start + count - first)
        rows = [
            {
                "event_id": event.id,
                "status": PhotoStatus.READY,
                "width": 4000,
                "height": 3000,
                "original_sha256": hashlib.sha256(f"syn-{k}".encode()).hexdigest(),
                "master_sha256": hashlib.sha256(f"syn-m-{k}".encode()).hexdigest(),
                "byte_size": 1,
                "wrapped_key": template.wrapped_key,
                "created_at": now,
                "phash": f"{int(rng.integers(0, 2**63)):016x}",
                "dhash": f"{int(rng.integers(0, 2**63)):016x}",
            }
            for k in range(first, first + n)
        ]
        ids = session.scalars(insert(Photo).returning(Photo.id), rows).all()
        features = []
        n_points = world.points_per_photo
        for photo_id in ids:
            d = world.pool[rng.integers(0, len(world.pool), n_points)].copy()
            for _ in range(40):
                bit = rng.integers(0, 256, n_points)
                d[np.arange(n_points), bit // 8] ^= (1 << (bit % 8)).astype(np.uint8)
            points = rng.uniform(0, 1600, (n_points, 2)).astype(np.float32)
            features.append(
                {
                    "photo_id": photo_id,
                    "width": 1600,
                    "height": 1200,
                    "count": n_points,
                    "points": points.tobytes(),
                    "descriptors": d.tobytes(),
                    "scheme": FEATURE_SCHEME,
                    "made_at": now,
                }
            )
        session.execute(insert(PhotoFeatures), features)
        session.commit()


def search(
    app: Flask, session: Session, world: World, data: bytes, index_dir: Path
) -> tuple[float, str, Any]:
    from app.auth.policies import SYSTEM
    from app.db import utcnow
    from app.investigate.services import open_case, search_case
    from app.web.context import runtime

    held = runtime(app)
    started = time.perf_counter()
    case, image = open_case(
        session,
        held.blobs,
        SYSTEM,
        data=data,
        school_id=world.school_id,
        limits=held.limits,
        now=utcnow(),
    )
    found = search_case(
        session,
        held.blobs,
        held.watermarks,
        SYSTEM,
        case,
        image=image,
        now=utcnow(),
        index_dir=index_dir,
    )
    elapsed = time.perf_counter() - started
    verdict = case.verdict.value if case.verdict else "none"
    session.commit()
    return elapsed, verdict, found.timings


# --- memory and the page cache ------------------------------------------------------------


def memory() -> dict[str, float]:
    """The process's resident memory now, in MB: ``VmRSS`` (all), ``RssAnon`` (private),
    ``RssFile`` (file-backed: mapped index pages, shared with every process mapping them)
    and ``VmHWM`` (the peak since the last :func:`reset_peak`)."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def reset_peak() -> bool:
    """Start the process's peak RSS (``VmHWM``) afresh; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def try_drop_caches() -> str:
    """Whether the whole page cache can be dropped here (it needs root): tried once, before
    anything is measured."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1")
    except OSError as error:
        return f"refused ({error.strerror})"
    return "worked"


def resident_mb(files: list[Path]) -> float | None:
    """How much of these files the page cache holds (``fincore``), or None without it."""
    fincore = shutil.which("fincore")
    if fincore is None or not files:
        return None
    out = subprocess.run(
        [fincore, "--bytes", "--noheadings", "--raw", "--output", "RES", *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(int(word) for word in out.stdout.split()) / 1e6


def evict(files: list[Path]) -> None:
    """Ask the kernel to drop these files' pages from the page cache (written back first):
    no root needed, and the rest of the cache (the database's pages) stays."""
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# --- one run: a scratch database grown to each size ---------------------------------------


@dataclass
class Measured:
    size: int
    points: int
    descriptors: int = 0
    build_wall: float = 0.0
    build_cpu: float = 0.0
    files_mb: float = 0.0
    build_rss_before: float = 0.0
    build_peak: float = 0.0
    stamp: float = 0.0
    evicted_left: float | None = None  # MB of the files still cached before the cold search
    cold: float = 0.0
    cold_steps: str = ""
    cached: float = 0.0
    anon_growth: float = 0.0
    file_growth: float = 0.0
    search_peak_growth: float = 0.0
    cached_after: float | None = None  # MB of the files the page cache holds after searching
    suspects: list[tuple[str, float, str, str, str]] = field(default_factory=list)


def steps_of(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if k != "total")


def run(sizes: list[int], points: int, index_root: Path | None) -> list[Measured]:
    """Grow one scratch database to each size and measure the build and the searches."""
    from app.web.context import runtime

    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.db"
        app = build_app(Path(scratch) / "var", url)
        if index_root is None:
            index_dir = Path(scratch) / "index"
        else:
            index_root.mkdir(parents=True, exist_ok=True)
            index_dir = Path(tempfile.mkdtemp(dir=index_root, prefix="bench-"))
        try:
            with app.app_context():
                session = runtime(app).database.session()
                world = seed(app, session, points)
                have = 4  # the real photos
                for size in sizes:
                    add_synthetic(app, session, world, size - have, have)
                    have = size
                    results.append(measure(app, session, world, size=size, index_dir=index_dir))
                session.close()
        finally:
            if index_root is not None:
                shutil.rmtree(index_dir, ignore_errors=True)
    return results


def measure(app: Flask, session: Session, world: World, *, size: int, index_dir: Path) -> Measured:
    import numpy as np

    from app.investigate import services

    got = Measured(size, world.points_per_photo)
    # 1. The build, as housekeeping does it: every scope's files brought up to date.
    services._INDEXES.clear()
    gc.collect()
    before = memory()
    peak_reset = reset_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    built = services.refresh_index_files(session, index_dir)
    got.build_wall = time.perf_counter() - wall
    got.build_cpu = time.process_time() - cpu
    after = memory()
    if not built:
        raise RuntimeError("housekeeping built no index files")
    got.build_rss_before = before["VmRSS"]
    got.build_peak = after["VmHWM"] if peak_reset else float("nan")
    versions = [d for d in index_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]
    files = [f for d in versions for f in d.iterdir() if f.suffix == ".npy"]
    got.files_mb = sum(f.stat().st_size for f in files) / 1e6
    got.descriptors = sum(len(np.load(d / "photo_ids.npy", mmap_mode="r")) for d in versions)
    print(
        f"{size:,} x {got.points}: built {built} in {got.build_wall:.1f} s "
        f"(CPU {got.build_cpu:.1f} s), {got.files_mb:.0f} MB, peak RSS {got.build_peak:.0f} MB",
        flush=True,
    )

    # What every search asks the database first: the version of the scope's rows.
    started = time.perf_counter()
    services._index_stamp(session, world.school_id)
    got.stamp = time.perf_counter() - started

    # 2. The first search of a process: nothing mapped, the files out of the page cache.
    services._INDEXES.clear()
    gc.collect()
    evict(files)
    got.evicted_left = resident_mb(files)
    start = memory()
    reset_peak()
    unrelated = world.suspects["unrelated photo"]
    got.cold, verdict, timings = search(app, session, world, unrelated, index_dir)
    got.cold_steps = steps_of(timings)
    print(f"  cold first search {got.cold:.1f} s ({verdict}) {got.cold_steps}", flush=True)
    # Another process's first search: mapped afresh, the pages just read still cached.
    services._INDEXES.clear()
    got.cached, verdict, timings = search(app, session, world, unrelated, index_dir)
    print(f"  first search, pages cached {got.cached:.1f} s ({verdict})", flush=True)

    # 3. Each suspect, warm (the files mapped in this process).
    for name, data in world.suspects.items():
        elapsed, verdict, timings = search(app, session, world, data, index_dir)
        ok = "yes" if verdict == world.expected[name] else f"**no** ({verdict})"
        got.suspects.append((name, elapsed, verdict, ok, steps_of(timings)))
        print(f"  {name}: {elapsed:.1f} s {verdict} {ok} {steps_of(timings)}", flush=True)
    end = memory()
    got.anon_growth = end["RssAnon"] - start["RssAnon"]
    got.file_growth = end["RssFile"] - start["RssFile"]
    got.search_peak_growth = end["VmHWM"] - start["VmRSS"]
    got.cached_after = resident_mb(files)
    services._INDEXES.clear()
    gc.collect()
    return got


# --- the report ---------------------------------------------------------------------------

#: The first search of a process before the index files, from this benchmark at commit
#: 02c771a (the index built in the process from the database, 10,000 photos of 1,940 points).
BEFORE = (
    "Before the index files (each process built the index at its first search, same "
    "machine, 10,000 photos of 1,940 points): first search 35.8 s, index memory 1,784 MB "
    "in every process, peak RSS 2,827 MB."
)


def mb(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f} MB"


def tables(results: list[Measured]) -> list[str]:
    build = [
        f"| {m.size:,} | {m.points:,} | {m.descriptors:,} | {m.build_wall:.1f} s | "
        f"{m.build_cpu:.1f} s | {mb(m.files_mb)} | {mb(m.build_peak)} "
        f"({m.build_peak - m.build_rss_before:+,.0f}) | {m.stamp:.2f} s |"
        for m in results
    ]
    first = [
        f"| {m.size:,} | {m.points:,} | {m.cold:.1f} s ({mb(m.evicted_left)} cached) | "
        f"{m.cached:.1f} s | {m.cold_steps} | {m.anon_growth:+,.0f} MB | "
        f"{m.file_growth:+,.0f} MB | {mb(m.cached_after)} of {mb(m.files_mb)} |"
        for m in results
    ]
    warm = [
        f"| {m.size:,} | {m.points:,} | {name} | {elapsed:.1f} s | {verdict} | {ok} | {steps} |"
        for m in results
        for name, elapsed, verdict, ok, steps in m.suspects
    ]
    return [
        "### Building the index files (as housekeeping does)",
        "",
        "`refresh_index_files` into a scratch index directory once the rows are in: wall and",
        "CPU time, the `.npy` files on disk, the process's peak RSS during the build (and its",
        "growth over the RSS before it: memory the allocator kept from the size before is",
        "reused, so a small build can show none), and the version query every search makes",
        "first.",
        "",
        "| photos | points a photo | descriptors | build | CPU | files on disk | peak RSS "
        "(growth) | version query |",
        "|---|---|---|---|---|---|---|---|",
        *build,
        "",
        "### The first search of a process, with the files in place",
        "",
        "The in-process cache (`_INDEXES`) emptied, so the files are mapped afresh, with an",
        "unrelated suspect. Cold: the files' pages first taken out of the OS page cache",
        "(`posix_fadvise(DONTNEED)`, what `fincore` still counted is in brackets; the",
        "database's pages stay cached). Pages cached: emptied again and searched again, as",
        "another process would once one has searched. RSS growth is over all the searches of",
        "the size (the two first searches and every suspect): private memory, and mapped",
        "index pages, which are file-backed and shared between processes (not copies). Last:",
        "how much of the files the page cache holds after them.",
        "",
        "| photos | points a photo | cold first search | pages cached | cold steps (s) | RSS "
        "growth, private | RSS growth, mapped files | files in page cache |",
        "|---|---|---|---|---|---|---|---|",
        *first,
        "",
        "### Time to verdict (warm: the files mapped in the process)",
        "",
        "| photos | points a photo | suspect | time | verdict | expected | steps (s) |",
        "|---|---|---|---|---|---|---|",
        *warm,
        "",
    ]


def growth(results: list[Measured]) -> list[str]:
    """How build, files and searches grow between the smallest and largest size of a run."""
    lines = []
    by_points: dict[int, list[Measured]] = {}
    for m in results:
        by_points.setdefault(m.points, []).append(m)
    for points, group in by_points.items():
        for a, b in itertools.pairwise(group):
            factor = b.size / a.size

            def times(x: float, y: float) -> str:
                return f"x{y / x:.1f}" if x > 0 else "n/a"

            slowest_a = max(s[1] for s in a.suspects)
            slowest_b = max(s[1] for s in b.suspects)
            peak_a = a.build_peak - a.build_rss_before
            peak_b = b.build_peak - b.build_rss_before
            lines.append(
                f"- {points:,} points, {a.size:,} to {b.size:,} photos (x{factor:.0f}): build "
                f"{times(a.build_wall, b.build_wall)}, files {times(a.files_mb, b.files_mb)}, "
                f"build peak RSS growth {times(peak_a, peak_b)}, "
                f"cold first search {times(a.cold, b.cold)}, slowest warm suspect "
                f"{times(slowest_a, slowest_b)}."
            )
    return lines


def extrapolated(results: list[Measured], size: int = 100_000) -> list[str]:
    """For points per photo not measured at ``size`` photos: the build's memory, time and
    files there, linear in points from the largest size measured (the build's sorts grow a
    little faster than that, so its time is a lower bound)."""
    lines = []
    largest: dict[int, Measured] = {}
    for m in results:
        if m.points not in largest or m.size > largest[m.points].size:
            largest[m.points] = m
    for points, m in largest.items():
        if m.size >= size or not m.descriptors:
            continue
        scale = size * points / m.descriptors
        lines.append(
            f"- Not measured: {size:,} photos of {points:,} points ({size * points:,} points), "
            f"linear from {m.size:,} photos: build peak RSS growth about "
            f"{(m.build_peak - m.build_rss_before) * scale / 1000:,.0f} GB, build at least "
            f"{m.build_wall * scale / 60:,.0f} min, files {m.files_mb * scale / 1000:,.1f} GB."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument(
        "--points",
        type=int,
        # The preview's 500 and 30 in each 400 px tile of a 3200 x 2400 master.
        default=500 + 30 * 8 * 6,
        help="points of each synthetic photo's row (default: the most a 12 MP photo's holds)",
    )
    parser.add_argument(
        "--run",
        action="append",
        metavar="SIZES:POINTS",
        help="a run of its own (a fresh database), e.g. 1000,10000:1940; may be repeated, "
        "and replaces --sizes and --points",
    )
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="where the scratch index directories go (default: the scratch directory)",
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    one_thread()
    import cv2

    cv2.setNumThreads(1)
    from _common import machine, write_section

    plans = [
        (sorted(int(s) for s in sizes.split(",")), int(points))
        for sizes, points in (
            spec.rsplit(":", 1) for spec in (args.run or [f"{args.sizes}:{args.points}"])
        )
    ]
    begun = time.perf_counter()
    load = os.getloadavg()
    dropped = try_drop_caches()
    print(f"drop_caches: {dropped}", flush=True)
    results: list[Measured] = []
    for sizes, points in plans:
        results.extend(run(sizes, points, args.index_dir))
    minutes = (time.perf_counter() - begun) / 60
    end_load = os.getloadavg()
    command = " ".join(
        [".venv/bin/python bench/investigate.py", *(shlex.quote(a) for a in sys.argv[1:])]
    )
    section = "\n".join(
        [
            "## Investigation",
            "",
            "Time from upload to verdict on the server (`open_case` + `search_case`: validation,",
            "decode, SHA-256, perceptual hash, encrypted store, blind read under every kept key,",
            "candidates by perceptual hash and by the feature index, informed reads), one thread,",
            "SQLite, with the scope's feature index in memory-mapped files under a scratch",
            "index directory (`index_dir`). The school's event holds four real photos (one a",
            "12 MP master with one download, one looked at as a marked preview) and synthetic",
            "index rows up to the size shown, each of the points shown (1,940 is the most a",
            "12 MP photo's row holds, 500 what its preview alone holds; plain walls and skies",
            "leave real rows smaller). `bench/investigate.py` describes what is measured.",
            "",
            f"Machine: {machine()}, shared with other work. Load average (1, 5, 15 min) "
            f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} at the start, {end_load[0]:.2f}, "
            f"{end_load[1]:.2f}, {end_load[2]:.2f} at the end; run time {minutes:.1f} min. "
            f"Dropping the whole page cache (`echo 1 > /proc/sys/vm/drop_caches`, root only): "
            f"{dropped}; it was not used for the cold search, which evicts only the index "
            "files.",
            "",
            "```sh",
            command,
            "```",
            "",
            BEFORE,
            "",
            *tables(results),
            *(["Growth:", "", *growth(results), *extrapolated(results), ""] if results else []),
        ]
    )
    print(section)
    if args.write:
        write_section(args.write, "## Investigation", section)


if __name__ == "__main__":
    main()
