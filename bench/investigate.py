"""Investigation benchmark: time from upload to verdict, and the memory of the index.

One school's event holds real photos processed by the real pipeline (one a 12 MP master,
downloaded once: the marked file is made by ``Watermarker.embed_jpeg`` exactly as the
download path will; another looked at as a marked preview by a guardian), plus synthetic
index rows: READY photo rows with random perceptual hashes and feature rows whose ORB
descriptors are real ones with 40 of 256 bits flipped (so the vote table sees realistic
byte statistics), for ``--sizes`` photos in all. Each synthetic row holds ``--points``
points: by default the most a 12 MP photo's row can hold (the preview's 500 and 30 in each
of the 48 tiles of its master at 3200 x 2400), so the index memory is an upper bound for
12 MP photos; plain walls and skies leave real rows smaller. For each size, in one process,
with OpenMP, OpenBLAS and OpenCV held to one thread:

* the cold first search (the feature index loaded from the database and its vote table
  built; later searches in the process reuse it), then
* each suspect, warm: ``open_case`` (validation, decode, SHA-256, pHash, encrypted store)
  + ``search_case`` (blind read, candidates, informed reads), which is what a POST to the
  console costs on the server: a 12 MP copy of the download (q85), a 1280 x 800
  screenshot of the marked preview (PNG), a 512 px face-sized crop of the download (q80), a
  400 px region of the download pasted at 80 % and 2 degrees into an unrelated picture
  (q80), an unmarked copy of an event photo (1000 px, q80) and an unrelated photo;
* the index's memory (``Index.nbytes``) and the process's peak RSS.

    .venv/bin/python bench/investigate.py --sizes 1000,10000 --write docs/benchmarks.md

The database is SQLite in a scratch directory.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
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
    scratch = Path(tempfile.mkdtemp()) / "twelve.jpg"
    scratch.write_bytes(jpeg(big, 92))
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
        [IncomingFile("twelve.jpg", scratch.read_bytes())],
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


def search(app: Flask, session: Session, world: World, data: bytes) -> tuple[float, str, Any]:
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
        session, held.blobs, held.watermarks, SYSTEM, case, image=image, now=utcnow()
    )
    elapsed = time.perf_counter() - started
    verdict = case.verdict.value if case.verdict else "none"
    session.commit()
    return elapsed, verdict, found.timings


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--write", type=Path)
    parser.add_argument(
        "--points",
        type=int,
        # The preview's 500 and 30 in each 400 px tile of a 3200 x 2400 master.
        default=500 + 30 * 8 * 6,
        help="points of each synthetic photo's row (default: the most a 12 MP photo's holds)",
    )
    args = parser.parse_args()
    one_thread()
    import cv2

    cv2.setNumThreads(1)
    from _common import machine, write_section

    from app.investigate import services

    sizes = sorted(int(s) for s in args.sizes.split(","))
    begun = time.perf_counter()
    load = os.getloadavg()[0]
    rows: list[str] = []
    memory: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.db"
        app = build_app(Path(scratch) / "var", url)
        with app.app_context():
            from app.web.context import runtime

            session = runtime(app).database.session()
            world = seed(app, session, args.points)
            have = 4  # the real photos
            for size in sizes:
                add_synthetic(app, session, world, size - have, have)
                have = size
                services._INDEXES.clear()
                cold, verdict, timings = search(
                    app, session, world, world.suspects["unrelated photo"]
                )
                index = next(iter(services._INDEXES.values()))[1]
                memory.append(
                    f"| {size:,} | {len(index):,} | {index.nbytes / 1e6:.0f} MB | "
                    f"{rss_mb():.0f} MB | {cold:.1f} s |"
                )
                print(f"{size}: cold {cold:.1f} s ({verdict}) {timings}", flush=True)
                for name, data in world.suspects.items():
                    elapsed, verdict, timings = search(app, session, world, data)
                    ok = "yes" if verdict == world.expected[name] else f"**no** ({verdict})"
                    steps = ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if k != "total")
                    rows.append(
                        f"| {size:,} | {name} | {elapsed:.1f} s | {verdict} | {ok} | {steps} |"
                    )
                    print(rows[-1], flush=True)
            session.close()
    minutes = (time.perf_counter() - begun) / 60
    section = "\n".join(
        [
            "## Investigation",
            "",
            "Time from upload to verdict on the server (`open_case` + `search_case`: validation,",
            "decode, SHA-256, perceptual hash, encrypted store, blind read under every kept key,",
            "candidates by perceptual hash and by the feature index, informed reads), one thread,",
            "SQLite. The school's event holds four real photos (one a 12 MP master with one",
            "download, one looked at as a marked preview) and synthetic index rows up to the",
            f"size shown, each of {args.points:,} points (the most a 12 MP photo's row holds;",
            "plain walls and skies leave real rows smaller). `bench/investigate.py` describes",
            "what is measured.",
            "",
            f"Machine: {machine()}. Load average (1 min) {load:.2f} at the start; run time "
            f"{minutes:.1f} min.",
            "",
            "```sh",
            ".venv/bin/python bench/investigate.py "
            f"--sizes {args.sizes} --points {args.points} --write docs/benchmarks.md",
            "```",
            "",
            "### Time to verdict (warm: the index already built in the process)",
            "",
            "| photos | suspect | time | verdict | expected | steps (s) |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "### The feature index",
            "",
            "The first search of a process loads the scope's feature rows and builds the vote",
            "table (cold, with an unrelated suspect); later searches reuse it until a photo is",
            "added. Memory is the index's arrays; peak RSS is the whole process so far.",
            "",
            "| photos | descriptors | index memory | peak RSS | cold first search |",
            "|---|---|---|---|---|",
            *memory,
            "",
        ]
    )
    print(section)
    if args.write:
        write_section(args.write, "## Investigation", section)


if __name__ == "__main__":
    main()
