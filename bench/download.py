"""Download benchmark: one marked full-resolution file from a 12 MP master, on one core.

What the server does for ``GET /downloads/file/<token>`` once the rows are checked,
measured in one process and one thread:

* ``app.deliveries.services.marked_master`` whole (decrypt the stored master, embed with
  ``Watermarker.embed_jpeg`` at quality 92, decode the result and ``verify`` the expected
  payload, SHA-256), and its parts one at a time with the same functions: decrypt
  (``read_derivative``), decode, embed (``embed_array``), encode, verify-decode
  (``decode_rgb``), verify (``Watermarker.verify``);
* in the same rounds, interleaved: a plain Pillow decode + JPEG encode (quality 92) of the
  same master, and an OpenCV (libjpeg-turbo) decode + encode at quality 92 and 4:2:0.

The master is what processing stores: a 4000 x 3000 photograph-like image
(``app.demo.generate_demo_photo``) encoded at quality 95, encrypted with a fresh data key
in a scratch blob directory. ``--real`` adds the photos of tests/data/photos/ of at least
``--min-mp`` megapixels, re-encoded at quality 95 the same way. Medians of ``--rounds``
rounds (at least 5); wall and process CPU time. The ratio to plain Pillow has a
goal of at most 2x.

    .venv/bin/python bench/download.py --rounds 7 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Download"
HEADER = (
    "| master | MP | size | plain Pillow | OpenCV | `marked_master` "
    "| ratio to Pillow (wall / CPU) | ratio to OpenCV |"
)
MASTER_SIZE = (4000, 3000)
MASTER_QUALITY = 95
PHOTOS = ROOT / "tests" / "data" / "photos"


def one_thread() -> None:
    """Hold the numeric libraries to one thread (before they are imported)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Sample:
    wall: float
    cpu: float


@contextmanager
def stopwatch(into: list[Sample]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Sample(time.perf_counter() - wall, time.process_time() - cpu))


def med(samples: list[Sample], attr: str = "wall") -> float:
    return statistics.median(getattr(sample, attr) for sample in samples)


STEPS = (
    "decrypt (read_derivative)",
    "decode (OpenCV)",
    "embed (embed_array)",
    "encode q92 (OpenCV)",
    "decode for the check (decode_rgb)",
    "verify",
    "SHA-256",
)
#: Not what the server does: what a check that reads only luma, or luma at half size
#: (libjpeg's scaled DCT), would pay to decode the marked file instead of ``decode_rgb``.
ALTERNATIVES = (
    "for comparison: decode luma only (IMREAD_GRAYSCALE)",
    "for comparison: decode luma at half size (IMREAD_REDUCED_GRAYSCALE_2)",
)


@dataclass
class Result:
    name: str
    megapixels: float
    master_bytes: int
    marked_bytes: int = 0
    score: float = 0.0
    plain: list[Sample] = field(default_factory=list)
    opencv: list[Sample] = field(default_factory=list)
    service: list[Sample] = field(default_factory=list)
    steps: dict[str, list[Sample]] = field(
        default_factory=lambda: {s: [] for s in (*STEPS, *ALTERNATIVES)}
    )


def encode_master(image: Any) -> bytes:
    """What processing stores as the master: RGB JPEG at quality 95 (Pillow's defaults)."""
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=MASTER_QUALITY)
    return out.getvalue()


def masters(real: bool, min_mp: float) -> list[tuple[str, bytes]]:
    from PIL import Image, ImageOps

    from app.demo import generate_demo_photo

    made = [
        (
            f"synthetic {MASTER_SIZE[0]} x {MASTER_SIZE[1]} (generate_demo_photo(7))",
            encode_master(generate_demo_photo(7, MASTER_SIZE)),
        )
    ]
    if real:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            pillow_heif.register_avif_opener()
        except (ImportError, AttributeError):
            pass
        for path in sorted(PHOTOS.iterdir()):
            if path.suffix.lower() in {".md", ""} or path.is_dir():
                continue
            try:
                with Image.open(path) as opened:
                    if opened.width * opened.height < min_mp * 1e6:
                        continue
                    upright = ImageOps.exif_transpose(opened)
                    made.append((path.name, encode_master(upright)))
            except (OSError, ValueError, SyntaxError):
                continue
    return made


class Bench:
    """A scratch encrypted blob store and a watermark key, as the server holds them."""

    def __init__(self, workdir: Path) -> None:
        from app.keys import WatermarkKeys
        from app.storage import EncryptedBlobs, KeyRing, LocalBlobStore

        self.blobs = EncryptedBlobs(
            LocalBlobStore(workdir / "blobs"), KeyRing.from_secrets(secrets.token_bytes(32))
        )
        self.watermarks = WatermarkKeys(secrets.token_bytes(32))
        self.engine = self.watermarks.current()

    def stored(self, photo_id: int, master: bytes) -> Any:
        """A READY photo row (not in any database) whose master is stored encrypted."""
        from app.photos.blobs import MASTER
        from app.photos.models import Photo, PhotoStatus

        key = self.blobs.new_data_key()
        self.blobs.put(photo_id, MASTER, master, key)
        return Photo(id=photo_id, status=PhotoStatus.READY, wrapped_key=key.wrapped)

    def delivery(self) -> Any:
        from app.deliveries.models import Delivery, DeliveryKind
        from app.deliveries.services import MARK_SPACE

        return Delivery(
            kind=DeliveryKind.DOWNLOAD,
            mark=secrets.randbelow(MARK_SPACE),
            key_id=self.watermarks.current_id,
        )


def round_of(bench: Bench, photo: Any, result: Result) -> None:
    """One round: plain Pillow, OpenCV, the service, then the service's steps."""
    import cv2
    import numpy as np
    from PIL import Image

    from app.deliveries.services import (
        MARKED_MASTER_QUALITY,
        decode_bgr,
        decode_rgb,
        encode_bgr,
        marked_master,
    )
    from app.photos.blobs import MASTER, read_derivative

    master = read_derivative(bench.blobs, photo, MASTER)
    with stopwatch(result.plain), Image.open(io.BytesIO(master)) as opened:
        opened.load()
        opened.save(io.BytesIO(), "JPEG", quality=MARKED_MASTER_QUALITY)
    with stopwatch(result.opencv):
        encode_bgr(decode_bgr(master), MARKED_MASTER_QUALITY)
    del master

    delivery = bench.delivery()
    with stopwatch(result.service):
        marked = marked_master(bench.blobs, bench.watermarks, photo, delivery)
    result.marked_bytes, result.score = len(marked.data), marked.score
    del marked

    steps = result.steps
    delivery = bench.delivery()
    with stopwatch(steps[STEPS[0]]):
        master = read_derivative(bench.blobs, photo, MASTER)
    with stopwatch(steps[STEPS[1]]):
        bgr = decode_bgr(master)
    with stopwatch(steps[STEPS[2]]):
        bench.engine.embed_array(bgr, delivery.mark, bgr=True, in_place=True)
    with stopwatch(steps[STEPS[3]]):
        data = encode_bgr(bgr, MARKED_MASTER_QUALITY)
    del bgr
    with stopwatch(steps[STEPS[4]]):
        rgb = decode_rgb(data)
    with stopwatch(steps[STEPS[5]]):
        check = bench.engine.verify(rgb, delivery.mark)
    with stopwatch(steps[STEPS[6]]):
        hashlib.sha256(data).hexdigest()
    if not check.accepted:
        raise SystemExit(f"step-by-step mark not verified (score {check.score:.1f})")
    buffer = np.frombuffer(data, np.uint8)
    with stopwatch(steps[ALTERNATIVES[0]]):
        cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    with stopwatch(steps[ALTERNATIVES[1]]):
        cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_2)


def run(rounds: int, real: bool, min_mp: float, workdir: Path) -> list[Result]:
    from PIL import Image

    bench = Bench(workdir)
    results = []
    photos = []
    for n, (name, data) in enumerate(masters(real, min_mp), start=1):
        with Image.open(io.BytesIO(data)) as opened:
            megapixels = opened.width * opened.height / 1e6
        results.append(Result(name, megapixels, len(data)))
        photos.append(bench.stored(n, data))
    # The first mark loads OpenCV and SciPy and builds the key's tables: not a download's cost.
    marked_first = bench.delivery()
    from app.deliveries.services import marked_master

    marked_master(bench.blobs, bench.watermarks, photos[0], marked_first)
    for number in range(rounds):
        print(f"  round {number + 1}/{rounds} …", flush=True)
        for photo, result in zip(photos, results, strict=True):
            round_of(bench, photo, result)
    return results


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def render(args: argparse.Namespace, results: list[Result], load: tuple[float, float]) -> str:
    import cv2
    import numpy
    import PIL

    rows = []
    for result in results:
        plain = med(result.plain)
        rows.append(
            f"| {result.name} | {result.megapixels:.1f} | {result.master_bytes / 1e6:.1f} MB | "
            f"{ms(plain)} / {ms(med(result.plain, 'cpu'))} | "
            f"{ms(med(result.opencv))} / {ms(med(result.opencv, 'cpu'))} | "
            f"{ms(med(result.service))} / {ms(med(result.service, 'cpu'))} | "
            f"**{med(result.service) / plain:.2f}x** / "
            f"{med(result.service, 'cpu') / med(result.plain, 'cpu'):.2f}x | "
            f"{med(result.service) / med(result.opencv):.2f}x |"
        )
    first = results[0]
    step_rows = [
        f"| {name} | {ms(med(first.steps[name]))} | {ms(med(first.steps[name], 'cpu'))} |"
        for name in STEPS
    ]
    step_total = sum(med(first.steps[name]) for name in STEPS)
    step_cpu = sum(med(first.steps[name], "cpu") for name in STEPS)
    other_rows = [
        f"| {name} | {ms(med(first.steps[name]))} | {ms(med(first.steps[name], 'cpu'))} |"
        for name in ALTERNATIVES
    ]
    command = " ".join([".venv/bin/python bench/download.py", *sys.argv[1:]])
    return f"""{SECTION}

One full-resolution download on one core, as `GET /downloads/file/<token>` makes it once
the rows are checked: `marked_master` (decrypt the stored master, `embed_jpeg` at quality
92, `decode_rgb` + `verify` of the expected payload, SHA-256), against a plain Pillow decode
+ encode (quality 92) and an OpenCV decode + encode (quality 92, 4:2:0) of the same master in
the same rounds. The request around it (rows, audit, the response) is in the HTTP section.

Machine: {machine()}; Pillow {PIL.__version__}, OpenCV {cv2.__version__}, numpy
{numpy.__version__}; one thread (OMP/OpenBLAS/OpenCV). **Shared machine**: other work ran
meanwhile; load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after. Wall times
stretch with that load; CPU time (of this process) much less.

```sh
{command}
```

Masters: JPEG quality {MASTER_QUALITY}, stored encrypted (AES-GCM) in a scratch blob
directory, as processing leaves them. Medians of {args.rounds} interleaved rounds; each cell
is wall ms / CPU ms.

{HEADER}
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Marked file of the synthetic master: {first.marked_bytes / 1e6:.2f} MB; verify score
{first.score:.1f}.

The parts, one at a time with the service's own functions (synthetic master, medians):

| part | wall ms | CPU ms |
|---|---:|---:|
{chr(10).join(step_rows)}
| sum of the parts | {ms(step_total)} | {ms(step_cpu)} |
{chr(10).join(other_rows)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--real", action="store_true", help="also the photos of tests/data")
    parser.add_argument("--min-mp", type=float, default=8.0, help="real photos at least this")
    parser.add_argument("--write", type=Path, default=None, help="update this markdown file")
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds: at least 5")
    one_thread()
    import cv2

    cv2.setNumThreads(1)
    workdir = Path(tempfile.mkdtemp(prefix="photogate-bench-download-"))
    load_start = load_average()
    try:
        results = run(args.rounds, args.real, args.min_mp, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(args, results, (load_start, load_average()))
    print(section)
    if args.write is not None:
        write_section(args.write, SECTION, section)
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
