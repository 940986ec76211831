"""Watermark benchmark: quality, robustness, speed and false attribution.

Runs the PhotoGate engine and, side by side, the invisible-watermark library (dwtDct and
dwtDctSvd) on the real photos of the shared test corpus, and writes the figures into the
``## Watermark`` section of docs/benchmarks.md (other sections are kept as they are).

    OMP_NUM_THREADS=1 .venv/bin/python bench/watermark.py

Options: ``--quick`` (three photos, 600 false-attribution queries), ``--no-baseline``,
``--fa-queries N``, ``--procs N``, ``--no-write``, ``--reuse`` (rewrite the section from the
figures saved in bench/out/ by the last run, e.g. after a change to the report's wording),
``--fa-only`` (only the false-attribution queries, saved as they go; run again, it goes on
where a stopped run left off; a later full run uses them)
and ``--speed-only`` (measure speed again into the saved figures, e.g. on a quieter machine).
The photos are the shared corpus and the rendered textured photos of
tests/data/photos/textured/.
Every worker process is limited to one thread.
"""

from __future__ import annotations

import os

# One core per process, as the goals are stated: set before numpy/OpenCV load their pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import io
import json
import math
import platform
import re
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageFilter, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.watermark import Keyring, Watermarker  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "testdata" / "photos"
# The rendered textured photos (tests/data/photos/textured/SOURCES.md), named "textured/...".
TEXTURED = ROOT / "tests" / "data" / "photos" / "textured"
DOC = ROOT / "docs" / "benchmarks.md"
KEY = bytes.fromhex("5eed" * 16)
WRONG_KEYS = {"old-1": b"\x11" * 32, "old-2": b"\x22" * 40}
PAYLOAD = 0x9E3779B9
MIN_PIXELS = 1_000_000
FA_SIDE = 1280
CACHE = ROOT / "bench" / "out" / "watermark-results.json"
# --fa-only keeps its (possibly partial) false-attribution figures here, saved as it goes.
FA_CACHE = ROOT / "bench" / "out" / "watermark-fa.json"

Attack = Callable[[Image.Image], Image.Image]


# --- image helpers -------------------------------------------------------------------------


def _register_heif() -> None:
    # HEIC/AVIF photos need the plugin; without it they are noted as unreadable.
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


_register_heif()


def photo_path(name: str) -> Path:
    if name.startswith("textured/"):
        return TEXTURED / name.removeprefix("textured/")
    return PHOTOS / name


def load(path: Path) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened).convert("RGB")


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, subsampling="4:2:0")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def png(image: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def long_side(image: Image.Image, side: int, resample: Image.Resampling) -> Image.Image:
    w, h = image.size
    size = (side, round(side * h / w)) if w >= h else (round(side * w / h), side)
    return image.resize(size, resample)


def crop_area(image: Image.Image, fraction: float) -> Image.Image:
    w, h = image.size
    s = math.sqrt(fraction)
    cw, ch = int(w * s), int(h * s)
    x0, y0 = (w - cw) // 3, (h - ch) // 2
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def strip(image: Image.Image, fraction: float) -> Image.Image:
    """A band across the short side keeping `fraction` of the area."""
    w, h = image.size
    if w >= h:
        bw = int(w * fraction)
        return image.crop((w // 3, 0, w // 3 + bw, h))
    bh = int(h * fraction)
    return image.crop((0, h // 3, w, h // 3 + bh))


def rotate_crop(image: Image.Image, degrees: float) -> Image.Image:
    w, h = image.size
    turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC)
    m = math.ceil(max(w, h) * math.sin(math.radians(abs(degrees)))) + 2
    return turned.crop((m, m, w - m, h - m))


def tone(image: Image.Image, brightness: float = 1.0, contrast: float = 1.0) -> Image.Image:
    a = np.asarray(image, dtype=np.float32)
    a = ((a - 128.0) * contrast + 128.0) * brightness
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def webp(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "WEBP", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def scale_xy(image: Image.Image, fx: float, fy: float) -> Image.Image:
    """A change of aspect ratio: x and y scaled independently."""
    w, h = image.size
    return image.resize((round(w * fx), round(h * fy)), Image.Resampling.LANCZOS)


def shear(image: Image.Image, degrees: float) -> Image.Image:
    """Horizontal shear about the centre, cropped to the area that stays inside."""
    w, h = image.size
    t = math.tan(math.radians(degrees))
    m = np.array([[1.0, t, -t * h / 2.0], [0.0, 1.0, 0.0]])
    out = cv2.warpAffine(np.asarray(image), m, (w, h), flags=cv2.INTER_CUBIC)
    margin = math.ceil(abs(t) * h / 2.0) + 2
    return Image.fromarray(out).crop((margin, 0, w - margin, h))


def width(image: Image.Image, pixels: int) -> Image.Image:
    w, h = image.size
    return image.resize((pixels, round(pixels * h / w)), Image.Resampling.LANCZOS)


def noise(image: Image.Image, sigma: float, seed: int = 7) -> Image.Image:
    a = np.asarray(image, dtype=np.float32)
    a = a + np.random.default_rng(seed).normal(0.0, sigma, a.shape[:2])[..., None]
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def stickers(image: Image.Image, seed: int = 5) -> Image.Image:
    """Eight opaque emoji-sized discs and bars pasted over the photo (about 8 % of it)."""
    rng = np.random.default_rng(seed)
    a = np.asarray(image).copy()
    h, w = a.shape[:2]
    r = max(8, round(0.04 * min(w, h)))
    for k in range(8):
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if k % 2:
            cv2.circle(a, (cx, cy), r, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(a, (cx - 2 * r, cy - r // 2), (cx + 2 * r, cy + r // 2), colour, -1)
    return Image.fromarray(a)


ATTACKS: dict[str, Attack] = {
    "none (JPEG q92)": lambda im: im,
    "JPEG q95": lambda im: jpeg(im, 95),
    "JPEG q75": lambda im: jpeg(im, 75),
    "JPEG q50": lambda im: jpeg(im, 50),
    "resize 50%": lambda im: jpeg(
        im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90
    ),
    "resize to 2048 px": lambda im: jpeg(long_side(im, 2048, Image.Resampling.LANCZOS), 90),
    "crop 25% (quarter)": lambda im: jpeg(crop_area(im, 0.25), 90),
    "crop 25% (strip)": lambda im: jpeg(strip(im, 0.25), 90),
    "brightness +20%": lambda im: jpeg(tone(im, brightness=1.2), 90),
    "brightness -20%": lambda im: jpeg(tone(im, brightness=0.8), 90),
    "contrast +20%": lambda im: jpeg(tone(im, contrast=1.2), 90),
    "contrast -20%": lambda im: jpeg(tone(im, contrast=0.8), 90),
    "crop 80% + JPEG q75": lambda im: jpeg(crop_area(im, 0.8), 75),
    "screenshot (1280 px PNG)": lambda im: png(long_side(im, 1280, Image.Resampling.BILINEAR)),
    "rotate 2° + crop": lambda im: jpeg(rotate_crop(im, 2.0), 90),
    "rotate -5° + crop": lambda im: jpeg(rotate_crop(im, -5.0), 90),
    # Added in the second round (the first round's outside evaluation, and the new goals).
    "resize to 2048 px + JPEG q85": lambda im: jpeg(
        long_side(im, 2048, Image.Resampling.LANCZOS), 85
    ),
    "rotate 3° + crop": lambda im: jpeg(rotate_crop(im, 3.0), 90),
    "mirror": lambda im: jpeg(ImageOps.mirror(im), 90),
    "grayscale": lambda im: jpeg(ImageOps.grayscale(im).convert("RGB"), 90),
    "WebP q80": lambda im: webp(im, 80),
    "blur (Gaussian, sigma 1 px)": lambda im: jpeg(im.filter(ImageFilter.GaussianBlur(1.0)), 90),
    "noise (sigma 4 grey levels)": lambda im: jpeg(noise(im, 4.0), 90),
    "stickers (8 opaque shapes)": lambda im: jpeg(stickers(im), 90),
    "scale 90% x 100%": lambda im: jpeg(scale_xy(im, 0.9, 1.0), 90),
    "scale 110% x 100%": lambda im: jpeg(scale_xy(im, 1.1, 1.0), 90),
    "shear 3°": lambda im: jpeg(shear(im, 3.0), 90),
    "600 px wide": lambda im: jpeg(width(im, 600), 90),
    "512 px wide": lambda im: jpeg(width(im, 512), 90),
}
# The first round's attacks are read informed too; the others blind only (their point is
# the blind search, and informed reads cost a second each).
INFORMED_ATTACKS = list(ATTACKS)[:16]
ROTATIONS = {"rotate 2° + crop", "rotate -5° + crop"}
FACE_REGIONS = 4


def face_regions(image: Image.Image, seed: int) -> list[Image.Image]:
    """512x512 regions at seeded random places, JPEG q80: a face cut out of a group photo."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    out = []
    for _ in range(FACE_REGIONS):
        x0 = int(rng.integers(0, w - 512))
        y0 = int(rng.integers(0, h - 512))
        out.append(jpeg(image.crop((x0, y0, x0 + 512, y0 + 512)), 80))
    return out


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Luma SSIM (Gaussian window 11, sigma 1.5, the usual constants)."""
    ya = cv2.cvtColor(np.asarray(a), cv2.COLOR_RGB2GRAY).astype(np.float64)
    yb = cv2.cvtColor(np.asarray(b), cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.GaussianBlur(x, (11, 11), 1.5))

    ma, mb = blur(ya), blur(yb)
    saa = blur(ya * ya) - ma * ma
    sbb = blur(yb * yb) - mb * mb
    sab = blur(ya * yb) - ma * mb
    num = (2 * ma * mb + c1) * (2 * sab + c2)
    den = (ma * ma + mb * mb + c1) * (saa + sbb + c2)
    return float(np.mean(num / den))


def corpus() -> tuple[list[Path], list[str]]:
    """Photos of at least 1 MP that Pillow reads; and notes on every file left out."""
    keep: list[Path] = []
    notes: list[str] = []
    for path in sorted(PHOTOS.iterdir()):
        if path.suffix.lower() in {".md", ".tsv"}:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as opened:
                    opened.load()
                    w, h = ImageOps.exif_transpose(opened).size
        except Exception as error:  # a benchmark notes any unreadable file and goes on
            notes.append(f"{path.name}: not readable ({type(error).__name__}: {error})")
            continue
        if w * h < MIN_PIXELS:
            notes.append(f"{path.name}: {w}x{h}, under 1 MP")
            continue
        keep.append(path)
    keep += sorted(TEXTURED.glob("*.jpg"))
    return keep, notes


def bench_name(path: Path) -> str:
    return f"textured/{path.name}" if path.parent == TEXTURED else path.name


# --- invisible-watermark baseline ------------------------------------------------------------


def baseline_available() -> str | None:
    """None if imwatermark imports, else the reason it does not."""
    try:
        import imwatermark  # noqa: F401 - only checking that it imports
    except Exception as error:  # it needs torch and can fail in many ways
        return f"{type(error).__name__}: {error}"
    return None


def baseline_embed(image: Image.Image, method: str) -> Image.Image:
    from imwatermark import WatermarkEncoder

    encoder = WatermarkEncoder()
    encoder.set_watermark("bytes", PAYLOAD.to_bytes(4, "big"))
    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    out = encoder.encode(bgr, method)
    return Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))


def baseline_read(image: Image.Image, method: str) -> int | None:
    from imwatermark import WatermarkDecoder

    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    try:
        raw = WatermarkDecoder("bytes", 32).decode(bgr, method)
    except Exception:  # the library raises on small or odd inputs: count as not read
        return None
    return int.from_bytes(bytes(raw), "big")


# --- per-photo work (runs in worker processes) ---------------------------------------------


@dataclass
class PhotoResult:
    name: str
    megapixels: float
    quality: dict[str, float] = field(default_factory=dict)
    blind: dict[str, bool] = field(default_factory=dict)
    informed: dict[str, bool] = field(default_factory=dict)
    blind_seconds: list[float] = field(default_factory=list)
    informed_seconds: list[float] = field(default_factory=list)
    face_hits: int = 0
    face_total: int = 0
    wrong: int = 0
    baseline: dict[str, dict[str, bool]] = field(default_factory=dict)
    baseline_quality: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Collusion: blind answer per kind ("colluder", "absent" or "innocent"), and the
    # candidate scoring's (colluders named, innocents named, colluders in the copy).
    collusion: dict[str, str] = field(default_factory=dict)
    collusion_named: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # verify(): accepted per case, and its seconds.
    verify: dict[str, bool] = field(default_factory=dict)
    verify_seconds: list[float] = field(default_factory=list)


COLLUDERS = (0x0C0FFEE1, 0x0C0FFEE2, 0x0C0FFEE3)
INNOCENTS = tuple(range(0x1000, 0x1000 + 50))
OTHER_KEY = b"\x33" * 32


def collusion_copies(original: Image.Image, marker: Watermarker) -> dict[str, Image.Image]:
    """Two or three downloads averaged, or two cut together, then saved as JPEG q90."""
    copies = [np.asarray(jpeg(marker.embed(original, p), 92), np.float32) for p in COLLUDERS]

    def average(arrays: list[np.ndarray]) -> Image.Image:
        mean = sum(arrays) / len(arrays)
        return Image.fromarray(np.clip(np.rint(mean), 0, 255).astype(np.uint8))

    cut = copies[0].copy()
    cut[:, cut.shape[1] // 2 :] = copies[1][:, cut.shape[1] // 2 :]
    return {
        "2 averaged": jpeg(average(copies[:2]), 90),
        "3 averaged": jpeg(average(copies), 90),
        "2 cut together (left | right)": jpeg(Image.fromarray(cut.astype(np.uint8)), 90),
        "2 averaged, resized to 50 %": jpeg(
            average(copies[:2]).resize(
                (original.width // 2, original.height // 2), Image.Resampling.LANCZOS
            ),
            90,
        ),
    }


COLLUSION_SIZES = {
    "2 averaged": 2,
    "3 averaged": 3,
    "2 cut together (left | right)": 2,
    "2 averaged, resized to 50 %": 2,
}


def run_collusion(res: PhotoResult, original: Image.Image, marker: Watermarker) -> None:
    for kind, suspect in collusion_copies(original, marker).items():
        members = set(COLLUDERS[: COLLUSION_SIZES[kind]])
        found = marker.extract(suspect).payload
        res.collusion[kind] = (
            "absent" if found is None else "colluder" if found in members else "innocent"
        )
        if suspect.size != original.size:
            continue  # candidate scoring needs the delivered size
        named = {p for p, _ in marker.colluders(suspect, [*INNOCENTS, *COLLUDERS])}
        res.collusion_named[kind] = (len(named & members), len(named - members), len(members))


def run_verify(res: PhotoResult, original: Image.Image, marker: Watermarker) -> None:
    marked = jpeg(marker.embed(original, PAYLOAD), 92)
    cases = {
        "right payload": (marked, PAYLOAD, marker),
        "right payload, re-saved JPEG q75": (jpeg(marked, 75), PAYLOAD, marker),
        "another payload": (marked, PAYLOAD ^ 0x5A5A5A5A, marker),
        "unmarked": (jpeg(original, 92), PAYLOAD, marker),
        "marked under another key": (
            jpeg(Watermarker(OTHER_KEY).embed(original, PAYLOAD), 92),
            PAYLOAD,
            marker,
        ),
    }
    for label, (image, payload, reader) in cases.items():
        t = time.perf_counter()
        res.verify[label] = reader.verify(image, payload).accepted
        res.verify_seconds.append(time.perf_counter() - t)


def run_photo(args: tuple[str, bool]) -> PhotoResult:
    name, with_baseline = args
    cv2.setNumThreads(1)
    marker = Watermarker(KEY)
    original = load(photo_path(name))
    w, h = original.size
    res = PhotoResult(name, w * h / 1e6)
    clean = marker.embed(original, PAYLOAD)
    marked = jpeg(clean, 92)
    res.quality = {
        "psnr": psnr(original, clean),
        "ssim": ssim(original, clean),
        "psnr_jpeg": psnr(jpeg(original, 92), marked),
        "ssim_jpeg": ssim(jpeg(original, 92), marked),
    }
    for label, attack in ATTACKS.items():
        suspect = attack(marked)
        t = time.perf_counter()
        found = marker.extract(suspect)
        res.blind_seconds.append(time.perf_counter() - t)
        res.blind[label] = found.payload == PAYLOAD
        res.wrong += found.payload not in (None, PAYLOAD)
        if label not in INFORMED_ATTACKS:
            continue
        t = time.perf_counter()
        found = marker.extract(suspect, original=original)
        res.informed_seconds.append(time.perf_counter() - t)
        res.informed[label] = found.payload == PAYLOAD
        res.wrong += found.payload not in (None, PAYLOAD)
    run_collusion(res, original, marker)
    run_verify(res, original, marker)
    for region in face_regions(marked, seed=len(name)):
        found = marker.extract(region, original=original)
        res.face_total += 1
        res.face_hits += found.payload == PAYLOAD
        res.wrong += found.payload not in (None, PAYLOAD)
    if with_baseline:
        for method in ("dwtDct", "dwtDctSvd"):
            base = baseline_embed(original, method)
            base_marked = jpeg(base, 92)
            res.baseline_quality[method] = (psnr(original, base), ssim(original, base))
            res.baseline[method] = {
                label: baseline_read(attack(base_marked), method) == PAYLOAD
                for label, attack in ATTACKS.items()
            }
    return res


# Textured photos under further keys. Whether the blind search finds the tile on a photo
# with a periodic texture of its own depends on the tile's own pattern (the key and the
# payload) as well as on the copy: one key's table would flatter or wrong it.
EXTRA_KEYS = (b"\x44" * 32, bytes(range(32)), bytes(range(50, 82)))
EXTRA_PAYLOADS = (0x01234567, 0x01236496, 0x012383C5)


def run_keys(args: tuple[str, int]) -> tuple[str, int, dict[str, bool], int]:
    """Every blind attack on one photo under EXTRA_KEYS[k]: (photo, k, read, wrong ids)."""
    name, k = args
    cv2.setNumThreads(1)
    marker = Watermarker(EXTRA_KEYS[k])
    payload = EXTRA_PAYLOADS[k]
    marked = jpeg(marker.embed(load(photo_path(name)), payload), 92)
    read: dict[str, bool] = {}
    wrong = 0
    for label, attack in ATTACKS.items():
        found = marker.extract(attack(marked))
        read[label] = found.payload == payload
        wrong += found.payload not in (None, payload)
    return name, k, read, wrong


def _keys_lines(results: list[PhotoResult], keys: list[dict[str, Any]]) -> list[str]:
    textured = [r for r in results if r.name.startswith("textured/")]
    if not keys or not textured:
        return []
    n_keys = 1 + len({row["key"] for row in keys})
    lines = [
        f"### Textured photos under {n_keys} keys",
        "",
        f"The {len(textured)} textured photos read blind under the key above and "
        f"{n_keys - 1} more (each with its own payload): share of photo-key pairs.",
        "",
        "| attack | blind |",
        "|---|---:|",
    ]
    for label in ATTACKS:
        hits = sum(r.blind[label] for r in textured) + sum(row["read"][label] for row in keys)
        lines.append(f"| {label} | {pct(hits, len(textured) + len(keys))} |")
    misses = [
        f"{row['name']}, key {row['key'] + 2}: {label}"
        for row in sorted(keys, key=lambda row: (row["name"], row["key"]))
        for label, ok in row["read"].items()
        if not ok
    ]
    wrong = sum(row["wrong"] for row in keys)
    lines.append("")
    if misses:
        lines += ["Misses under the further keys:", "", *[f"- {m}" for m in misses], ""]
    return [*lines, f"Wrong ids under the further keys: {wrong}.", ""]


def measure_keys(pool: Any, paths: list[Path]) -> list[dict[str, Any]]:
    jobs = [
        (bench_name(p), k) for p in paths if p.parent == TEXTURED for k in range(len(EXTRA_KEYS))
    ]
    rows = []
    for name, k, read, wrong in pool.imap_unordered(run_keys, jobs):
        rows.append({"name": name, "key": k, "read": read, "wrong": wrong})
        print(f"{name} key {k + 2}: blind {sum(read.values())}/{len(read)}", flush=True)
    return rows


# --- speed (one process, nothing else running) ---------------------------------------------


SpeedRow = dict[str, Any]


def _median_time(fn: Callable[[], object], runs: int, clock: str = "wall") -> float:
    """Median seconds of `runs` calls, by the wall clock or by this process's CPU time (on
    a machine shared with other work the CPU time is the steadier figure)."""
    now = time.perf_counter if clock == "wall" else time.process_time
    times = []
    for _ in range(runs):
        t = now()
        fn()
        times.append(now() - t)
    return float(np.median(times))


def speed(paths: list[Path], runs: int = 5) -> list[SpeedRow]:
    """Per photo of 8 MP or more: JPEG bytes to JPEG bytes, plain and marked, medians of
    `runs` interleaved rounds; blind, informed and verify times; memory of one embed."""
    cv2.setNumThreads(1)
    marker = Watermarker(KEY)
    rows: list[SpeedRow] = []
    for path in paths:
        original = load(path)
        if original.width * original.height < 8_000_000:
            continue
        buf = io.BytesIO()
        original.save(buf, "JPEG", quality=95)
        data = buf.getvalue()

        def plain(data: bytes = data) -> None:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
            image.save(io.BytesIO(), "JPEG", quality=92)

        def marked_pil(data: bytes = data) -> None:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
            marker.embed(image, PAYLOAD).save(io.BytesIO(), "JPEG", quality=92)

        def marked_jpeg(data: bytes = data) -> None:
            marker.embed_jpeg(data, PAYLOAD)

        for fn in (plain, marked_pil, marked_jpeg):
            fn()
        tp, tj, tpil = [], [], []
        for _ in range(runs):
            tp.append(_median_time(plain, 1))
            tj.append(_median_time(marked_jpeg, 1))
            tpil.append(_median_time(marked_pil, 1))
        tracemalloc.start()
        marker.embed_jpeg(data, PAYLOAD)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        suspect = jpeg(marker.embed(original, PAYLOAD), 92)
        q75 = jpeg(suspect, 75)
        clean = jpeg(original, 92)
        rows.append(
            {
                "name": path.name,
                "mp": original.width * original.height / 1e6,
                "plain": float(np.median(tp)),
                "jpeg": float(np.median(tj)),
                "pil": float(np.median(tpil)),
                "peak_mb": peak / 1e6,
                "blind_marked": _median_time(partial(marker.extract, q75), 3),
                "blind_marked_cpu": _median_time(partial(marker.extract, q75), 3, "cpu"),
                "jpeg_cpu": _median_time(marked_jpeg, 3, "cpu"),
                "plain_cpu": _median_time(plain, 3, "cpu"),
                "blind_absent": _median_time(partial(marker.extract, clean), 3),
                "informed": _median_time(
                    partial(marker.extract, rotate_crop(suspect, 4.0), original=original), 1
                ),
                "verify": _median_time(partial(marker.verify, suspect, PAYLOAD), 5),
            }
        )
    return rows


# --- false attribution ---------------------------------------------------------------------


def fa_query(args: tuple[int, str, str]) -> tuple[int, int, int, str]:
    """A randomised copy that must read as absent: an unmarked photo under the key, or a
    marked one under other keys. Returns (wrong ids, BCH+MAC checks, 0, kind)."""
    seed, name, kind = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    image = _fa_image(name)
    right = Watermarker(KEY)
    if kind != "unmarked":
        image = jpeg(right.embed(image, int(rng.integers(0, 2**32))), 92)
    # A random copy: scale, crop, rotation, JPEG quality, tone.
    w, h = image.size
    scale = float(rng.uniform(0.25, 1.0))
    image = image.resize(
        (max(64, int(w * scale)), max(64, int(h * scale))), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        w, h = image.size
        f = float(rng.uniform(0.3, 1.0))
        cw, ch = max(64, int(w * f)), max(64, int(h * f))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        image = image.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.3:
        image = image.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BILINEAR)
    if rng.random() < 0.3:
        image = tone(image, float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.8, 1.2)))
    image = jpeg(image, int(rng.integers(40, 96)))
    reader = Keyring(WRONG_KEYS) if kind == "wrong-key" else right
    found = reader.extract(image)
    return int(found.payload is not None), found.attempts, 0, kind


_FA_CACHE: dict[str, Image.Image] = {}


def _fa_image(name: str) -> Image.Image:
    if name not in _FA_CACHE:
        image = load(photo_path(name))
        # Work at up to FA_SIDE pixels so ten thousand queries finish in under an hour on
        # two cores; copies of that size (thumbnails, social media) are common leaks too.
        if max(image.size) > FA_SIDE:
            image = long_side(image, FA_SIDE, Image.Resampling.LANCZOS)
        _FA_CACHE[name] = image
    return _FA_CACHE[name]


def fa_query_marked(args: tuple[int, str]) -> tuple[int, int, int]:
    """Marked copy under the right key: count ids other than the embedded one."""
    seed, name = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    payload = int(rng.integers(0, 2**32))
    right = Watermarker(KEY)
    image = jpeg(right.embed(_fa_image(name), payload), 92)
    w, h = image.size
    f = float(rng.uniform(0.3, 1.0))
    cw, ch = max(64, int(w * f)), max(64, int(h * f))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x0, y0, x0 + cw, y0 + ch))
    scale = float(rng.uniform(0.25, 1.0))
    image = image.resize(
        (max(64, int(cw * scale)), max(64, int(ch * scale))), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.3:
        image = image.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BILINEAR)
    image = jpeg(image, int(rng.integers(30, 96)))
    found = right.extract(image)
    wrong = int(found.payload is not None and found.payload != payload)
    return wrong, found.attempts, int(found.payload == payload)


# --- report ---------------------------------------------------------------------------------


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = re.search(r"Model name:\s*(.+)", out)
        name = model.group(1).strip() if model else platform.processor()
    except OSError:
        name = platform.processor()
    return f"{name}, {os.cpu_count()} cores, Python {platform.python_version()}"


def pct(hits: int, total: int) -> str:
    return f"{100.0 * hits / total:.0f}% ({hits}/{total})" if total else "-"


def _quality_lines(results: list[PhotoResult]) -> list[str]:
    q = [r.quality for r in results]
    lines = ["### Quality", "", "| measure | min | median | max |", "|---|---:|---:|---:|"]
    for key, label in (
        ("psnr", "PSNR marked vs original, RGB (dB)"),
        ("ssim", "SSIM marked vs original, luma"),
        ("psnr_jpeg", "PSNR JPEG q92 of marked vs JPEG q92 of original, RGB (dB)"),
        ("ssim_jpeg", "SSIM JPEG q92 of marked vs JPEG q92 of original, luma"),
    ):
        vals = [x[key] for x in q]
        fmt = "{:.1f}" if key.startswith("psnr") else "{:.4f}"
        lines.append(
            f"| {label} | {fmt.format(min(vals))} | {fmt.format(float(np.median(vals)))} | "
            f"{fmt.format(max(vals))} |"
        )
    if results and results[0].baseline_quality:
        for method in ("dwtDct", "dwtDctSvd"):
            ps = [r.baseline_quality[method][0] for r in results]
            ss = [r.baseline_quality[method][1] for r in results]
            lines.append(
                f"| invisible-watermark {method}: PSNR RGB / SSIM luma, marked vs original | "
                f"{min(ps):.1f} / {min(ss):.4f} | {np.median(ps):.1f} / {np.median(ss):.4f} | "
                f"{max(ps):.1f} / {max(ss):.4f} |"
            )
    lines += [
        "",
        "invisible-watermark changes the U chroma channel, which luma SSIM does not see; its "
        "RGB PSNR does. Whether our mark shows on flat skin and sky was looked at, not "
        'measured: see docs/watermark.md, "How it looks" (`bench/watermark_crops.py`).',
    ]
    return [*lines, ""]


def informed_pct(results: list[PhotoResult], label: str) -> str:
    if label not in INFORMED_ATTACKS:
        return "-"
    return pct(sum(r.informed[label] for r in results), len(results))


def _robustness_lines(results: list[PhotoResult], baseline_error: str | None) -> list[str]:
    n = len(results)
    base = bool(results and results[0].baseline)
    header = "| attack | PhotoGate blind | PhotoGate informed |" + (
        " dwtDct | dwtDctSvd |" if base else ""
    )
    rule = "|---|---:|---:|" + ("---:|---:|" if base else "")
    lines = ["### Exact id read back (share of photos)", "", header, rule]
    for label in ATTACKS:
        row = (
            f"| {label} | {pct(sum(r.blind[label] for r in results), n)} | "
            f"{informed_pct(results, label)} |"
        )
        for method in ("dwtDct", "dwtDctSvd") if base else ():
            hits = sum(r.baseline[method].get(label, False) for r in results)
            row += f" {pct(hits, n)} |"
        lines.append(row)
    faces = sum(r.face_hits for r in results)
    face_total = sum(r.face_total for r in results)
    row = f"| 512x512 region + JPEG q80 ({FACE_REGIONS} per photo) | - | {pct(faces, face_total)} |"
    lines += [row + (" - | - |" if base else ""), ""]
    if baseline_error:
        lines += [f"invisible-watermark baseline not run: {baseline_error}", ""]
    misses = [f"{r.name}: blind {k}" for r in results for k, ok in r.blind.items() if not ok]
    misses += [f"{r.name}: informed {k}" for r in results for k, ok in r.informed.items() if not ok]
    if misses:
        lines += ["Misses:", "", *[f"- {m}" for m in misses], ""]
    wrong = sum(r.wrong for r in results)
    return [*lines, f"Wrong ids in the robustness runs: {wrong}.", ""]


def _speed_lines(results: list[PhotoResult], speed_rows: list[SpeedRow]) -> list[str]:
    lines = [
        "### Speed (one core)",
        "",
        "JPEG bytes (q95) to marked JPEG q92 bytes against a plain Pillow decode + re-encode "
        "of the same file in the same run, medians of 5 interleaved rounds: `embed_jpeg` "
        "(the download path: OpenCV's libjpeg-turbo in and out, the mark added in numpy) "
        "and Pillow decode + `embed` + Pillow encode. Blind reads of a JPEG q75 marked copy "
        "and of an unmarked photo (medians of 3), an informed read of a 4° rotated crop, "
        "and `verify` of the marked file (median of 5). Peak memory: the largest "
        "numpy/OpenCV allocation in flight during one `embed_jpeg` (tracemalloc).",
        "",
        "| photo | MP | plain (s) | embed_jpeg (s) | ratio | Pillow + embed (s) | ratio "
        "| peak MB | blind marked (s) | blind unmarked (s) | informed (s) | verify (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in speed_rows:
        lines.append(
            f"| {r['name']} | {r['mp']:.1f} | {r['plain']:.3f} | {r['jpeg']:.3f} | "
            f"{r['jpeg'] / r['plain']:.2f} | {r['pil']:.3f} | {r['pil'] / r['plain']:.2f} | "
            f"{r['peak_mb']:.0f} | {r['blind_marked']:.2f} | {r['blind_absent']:.2f} | "
            f"{r['informed']:.2f} | {r['verify']:.3f} |"
        )
    if speed_rows:

        def med(key: str) -> float:
            return float(np.median([r[key] for r in speed_rows]))

        ratio_jpeg = float(np.median([r["jpeg"] / r["plain"] for r in speed_rows]))
        ratio_pil = float(np.median([r["pil"] / r["plain"] for r in speed_rows]))
        blind = [max(r["blind_marked"], r["blind_absent"]) for r in speed_rows]
        if "blind_marked_cpu" in speed_rows[0]:
            cpu_ratio = float(np.median([r["jpeg_cpu"] / r["plain_cpu"] for r in speed_rows]))
            lines += [
                "",
                "By CPU time of the process (the machine is shared with other work, which "
                f"stretches wall times): embed_jpeg {cpu_ratio:.2f}x plain; blind read of the "
                f"marked copy {med('blind_marked_cpu'):.2f} s (median).",
            ]
        lines += [
            "",
            f"Medians over these photos: embed_jpeg {ratio_jpeg:.2f}x plain, Pillow + embed "
            f"{ratio_pil:.2f}x plain; blind read {med('blind_marked'):.2f} s marked, "
            f"{med('blind_absent'):.2f} s unmarked ({float(np.median(blind)):.2f} s for the "
            f"slower of the two); verify {med('verify') * 1000:.0f} ms; peak memory of one "
            f"embed {med('peak_mb'):.0f} MB.",
        ]
    blind_all = [t for r in results for t in r.blind_seconds]
    informed_all = [t for r in results for t in r.informed_seconds]
    if blind_all:
        lines += [
            "",
            f"Over every attacked copy above: blind extract median {np.median(blind_all):.2f} s, "
            f"max {max(blind_all):.2f} s; informed median {np.median(informed_all):.2f} s, "
            f"max {max(informed_all):.2f} s (two worker processes, one core each).",
        ]
    return [*lines, ""]


def _collusion_lines(results: list[PhotoResult]) -> list[str]:
    if not results or not results[0].collusion:
        return []
    n = len(results)
    lines = [
        "### Collusion",
        "",
        "Downloads of one photo for different ids, averaged pixel by pixel or cut together, "
        "saved as JPEG q90. Blind read: what `extract` names (a colluder, nobody, or a third "
        "party). Candidates: `colluders` given the colluders' ids among 50 innocent ids of "
        "the same photo (copies of the delivered size only).",
        "",
        "| copy | blind: a colluder | blind: absent | blind: innocent | candidates: "
        "colluders named | candidates: innocents named |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind in results[0].collusion:
        blind = [r.collusion[kind] for r in results]
        named = [r.collusion_named[kind] for r in results if kind in r.collusion_named]
        if named:
            hits = sum(x[0] for x in named)
            total = sum(x[2] for x in named)
            cand = f"{pct(hits, total)} | {sum(x[1] for x in named)}"
        else:
            cand = "- | -"
        lines.append(
            f"| {kind} | {pct(blind.count('colluder'), n)} | {pct(blind.count('absent'), n)} "
            f"| {blind.count('innocent')} | {cand} |"
        )
    return [*lines, ""]


def _verify_lines(results: list[PhotoResult]) -> list[str]:
    if not results or not results[0].verify:
        return []
    n = len(results)
    lines = [
        "### verify (the download pipeline's check, no search)",
        "",
        "| file checked against the payload | accepted |",
        "|---|---:|",
    ]
    for label in results[0].verify:
        lines.append(f"| {label} | {pct(sum(r.verify[label] for r in results), n)} |")
    times = [t for r in results for t in r.verify_seconds]
    lines += [
        "",
        f"verify time over all photos and cases: median {np.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms.",
    ]
    return [*lines, ""]


def _fa_lines(fa: dict[str, Any]) -> list[str]:
    lines = [
        "### False attribution",
        "",
        "Randomised copies (scale 25-100 %, crops, rotations up to 6°, tone changes, JPEG "
        "q30-95) of the corpus and textured photos at up to 1280 px: unmarked photos read "
        "with the key, marked photos read with a keyring of two other keys, and marked photos "
        "read with their key (where any id other than the embedded one would be wrong).",
        "",
        "| queries | kind | wrong ids | BCH+MAC checks made | right ids |",
        "|---:|---|---:|---:|---:|",
    ]
    for kind, (n, wrong_ids, checks, right_ids) in fa["kinds"].items():
        lines.append(f"| {n} | {kind} | {wrong_ids} | {checks} | {right_ids} |")
    planned = fa.get("planned", fa["queries"])
    if fa["queries"] < planned:
        lines += [
            "",
            f"This run was stopped after {fa['queries']} of {planned} planned queries "
            "(the kinds interleaved, so each is covered in proportion).",
        ]
    return [
        *lines,
        "",
        f"Total: {fa['queries']} extractions, {fa['wrong']} wrong ids, {fa['checks']} "
        "authenticated-decode attempts. See docs/watermark.md for why the expected number "
        "of wrong ids is below 1e-9 per query.",
        "",
    ]


def report(
    results: list[PhotoResult],
    notes: list[str],
    speed_rows: list[SpeedRow],
    fa: dict[str, Any],
    *,
    keys: list[dict[str, Any]],
    baseline_error: str | None,
    command: str,
    run_minutes: float,
    run_note: str = "",
) -> str:
    textured = sum(r.name.startswith("textured/") for r in results)
    lines = [
        "## Watermark",
        "",
        f"Machine: {machine()}; one thread per process. Commands (from the project root; "
        "the baseline's import needs torch, and 2.13.0 is the CPU build pip finds here):",
        "",
        "```",
        ".venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e '.[dev,bench]'",
        command,
        "```",
        "",
        f"Photos: the {len(results) - textured} files of the shared test corpus with at "
        "least 1 MP that Pillow reads (HEIC/AVIF through pillow-heif), and the "
        f"{textured} rendered textured photos of tests/data/photos/textured/ (checked "
        "fabric, chain-link fence, tiled wall, lawn, gym floor, conifer needles; 2400 x "
        "1600). Every photo is marked, saved as JPEG q92 as a download would be, then "
        f"attacked. Payload: one 32-bit id. Total run time {run_minutes:.0f} min.",
        "",
    ]
    if run_note:
        lines += [run_note, ""]
    if notes:
        lines += ["Left out:", "", *[f"- {n}" for n in notes], ""]
    lines += _quality_lines(results)
    lines += _robustness_lines(results, baseline_error)
    lines += _keys_lines(results, keys)
    lines += _collusion_lines(results)
    lines += _verify_lines(results)
    lines += _speed_lines(results, speed_rows)
    lines += _fa_lines(fa)
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) the ``## Watermark`` section, leaving every other section alone."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Watermark\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip() + "\n\n", old)
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    DOC.write_text(new.rstrip() + "\n")


def fa_any(args: tuple[int, str, str]) -> tuple[int, int, int, int, str]:
    """One false-attribution query of any kind: (seed, wrong ids, checks, right ids, kind)."""
    seed, name, kind = args
    if kind == "marked":
        wrong, checks, right = fa_query_marked((seed, name))
        return seed, wrong, checks, right, kind
    return (seed, *fa_query(args))


FA_KINDS = {
    "unmarked": "unmarked, right key",
    "wrong-key": "marked, two wrong keys",
    "marked": "marked, right key",
}


def false_attribution(
    pool: Any,
    names: list[str],
    n: int,
    progress: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """n randomised queries, 40 % unmarked, 30 % wrong keys, 30 % marked, interleaved so that
    a run stopped early still covers every kind in proportion; `resume` (a saved partial
    run of the same plan) skips the queries it already answered."""
    n_u, n_w = n * 4 // 10, n * 3 // 10
    plan_u = [(1000 + i, names[i % len(names)], "unmarked") for i in range(n_u)]
    plan_w = [(5000 + i, names[i % len(names)], "wrong-key") for i in range(n_w)]
    plan_m = [(9000 + i, names[i % len(names)], "marked") for i in range(n - n_u - n_w)]
    plan: list[tuple[int, str, str]] = []
    for i in range(max(len(plan_u), len(plan_w), len(plan_m))):
        for part in (plan_u, plan_w, plan_m):
            if i < len(part):
                plan.append(part[i])
    kinds: dict[str, list[int]] = {label: [0, 0, 0, 0] for label in FA_KINDS.values()}
    seeds: list[int] = []
    if resume is not None and resume.get("planned") == n and "seeds" in resume:
        kinds = {k: list(v) for k, v in resume["kinds"].items()}
        seeds = list(resume["seeds"])
        answered = set(seeds)
        plan = [item for item in plan if item[0] not in answered]

    def summary() -> dict[str, Any]:
        return {
            "kinds": {k: tuple(v) for k, v in kinds.items()},
            "queries": sum(v[0] for v in kinds.values()),
            "wrong": sum(v[1] for v in kinds.values()),
            "checks": sum(v[2] for v in kinds.values()),
            "planned": n,
            "seeds": seeds,
        }

    answers = pool.imap_unordered(fa_any, plan, chunksize=4)
    for done, (seed, wrong, checks, right_ids, kind) in enumerate(answers, start=1):
        seeds.append(seed)
        row = kinds[FA_KINDS[kind]]
        row[0] += 1
        row[1] += wrong
        row[2] += checks
        row[3] += right_ids
        if done % 250 == 0:
            print(f"false-attribution queries: {done}, wrong ids {summary()['wrong']}", flush=True)
            if progress is not None:
                progress(summary())
    return summary()


def _save(saved: dict[str, Any]) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(json.dumps(saved))


def _measure(pool: Any, paths: list[Path], baseline_error: str | None) -> dict[str, Any]:
    """Speed (alone, first), then quality and robustness per photo in the worker pool."""
    started = time.perf_counter()
    print(f"{len(paths)} photos; speed first (single process)", flush=True)
    speed_rows = speed(paths)
    for row in speed_rows:
        print("speed", row, flush=True)
    results: list[PhotoResult] = []
    jobs = [(bench_name(p), baseline_error is None) for p in paths]
    for res in pool.imap_unordered(run_photo, jobs):
        results.append(res)
        print(
            f"{res.name}: blind {sum(res.blind.values())}/{len(res.blind)} informed "
            f"{sum(res.informed.values())}/{len(res.informed)} faces "
            f"{res.face_hits}/{res.face_total} psnr {res.quality['psnr']:.1f}",
            flush=True,
        )
    results.sort(key=lambda r: r.name)
    return {
        "speed": speed_rows,
        "results": [asdict(r) for r in results],
        "baseline_error": baseline_error,
        "minutes": (time.perf_counter() - started) / 60,
    }


def speed_again(cpu_only: bool) -> None:
    """Measure speed again; with cpu_only, keep the saved wall-clock figures (measured with
    nothing else of ours running) and add only the CPU-time ones."""
    saved = json.loads(CACHE.read_text())
    fresh = speed(corpus()[0])
    if cpu_only:
        by_name = {row["name"]: row for row in fresh}
        for row in saved["speed"]:
            new = by_name.get(row["name"], {})
            row.update({k: v for k, v in new.items() if k.endswith("_cpu")})
    else:
        saved["speed"] = fresh
    _save(saved)


def fa_only(queries: int, procs: int) -> None:
    paths, _ = corpus()
    started = time.perf_counter()

    def keep(partial: dict[str, Any]) -> None:
        partial["minutes"] = (time.perf_counter() - started) / 60
        FA_CACHE.parent.mkdir(parents=True, exist_ok=True)
        FA_CACHE.write_text(json.dumps(partial))

    earlier = json.loads(FA_CACHE.read_text()) if FA_CACHE.exists() else None
    if earlier is not None and earlier.get("planned") == queries:
        started -= 60 * float(earlier.get("minutes", 0.0))
    else:
        earlier = None
    with get_context("spawn").Pool(procs) as pool:
        names = [bench_name(p) for p in paths]
        keep(false_attribution(pool, names, queries, keep, resume=earlier))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--fa-queries", type=int, default=10_000)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print instead of writing")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help=f"reuse the figures saved in {CACHE.name} (false attribution only when it was "
        "run with the same --fa-queries)",
    )
    parser.add_argument(
        "--fa-only",
        action="store_true",
        help=f"run only the false-attribution queries, saving them to {FA_CACHE.name} as they "
        "go (a later run uses them, even if stopped early)",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help=f"measure speed again (alone on the machine, please) into {CACHE.name}, keep the rest",
    )
    parser.add_argument(
        "--cpu-times-only",
        action="store_true",
        help="as --speed-only, but keep the saved wall-clock figures and add CPU times",
    )
    return parser


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    if args.fa_only:
        fa_only(args.fa_queries, args.procs)
        return
    if (args.speed_only or args.cpu_times_only) and CACHE.exists():
        speed_again(cpu_only=args.cpu_times_only)
        args.reuse = True
    quiet = ("--reuse", "--no-write", "--speed-only", "--cpu-times-only")
    shown = [a for a in sys.argv[1:] if a not in quiet]
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/watermark.py", *shown])
    paths, notes = corpus()
    if args.quick:
        paths = [*paths[:2], paths[-1]]
        args.fa_queries = min(args.fa_queries, 600)
    baseline_error = baseline_available() if not args.no_baseline else "disabled (--no-baseline)"
    if baseline_error:
        print(f"invisible-watermark baseline not run: {baseline_error}", flush=True)
    saved: dict[str, Any] = {}
    if args.reuse and CACHE.exists():
        saved = json.loads(CACHE.read_text())
        if saved.get("fa_queries") != args.fa_queries:
            saved.pop("fa", None)
        print(f"reusing {CACHE}", flush=True)
    separate = json.loads(FA_CACHE.read_text()) if FA_CACHE.exists() else None
    if separate is not None and separate.get("planned") == args.fa_queries:
        # Run (or still running) with --fa-only: use its figures, do not run them again.
        saved.update(fa=separate, fa_queries=args.fa_queries, fa_minutes=separate["minutes"])
        command += (
            "\n# the false-attribution figures (saved as they go; run again to go on):\n"
            f"OMP_NUM_THREADS=1 .venv/bin/python bench/watermark.py --fa-only "
            f"--fa-queries {args.fa_queries}"
        )
    with get_context("spawn").Pool(args.procs) as pool:
        if "results" not in saved:
            saved = _measure(pool, paths, baseline_error)
            _save(saved)
        if "keys" not in saved:
            started = time.perf_counter()
            saved["keys"] = measure_keys(pool, paths)
            saved["minutes"] += (time.perf_counter() - started) / 60
            _save(saved)
        if "fa" not in saved:
            started = time.perf_counter()
            fa = false_attribution(pool, [bench_name(p) for p in paths], args.fa_queries)
            fa_minutes = (time.perf_counter() - started) / 60
            saved.update(fa=fa, fa_queries=args.fa_queries, fa_minutes=fa_minutes)
            saved.pop("note", None)
            _save(saved)
    text = report(
        [PhotoResult(**r) for r in saved["results"]],
        notes,
        saved["speed"],
        saved["fa"],
        keys=saved["keys"],
        baseline_error=saved["baseline_error"],
        command=command,
        run_minutes=saved["minutes"] + saved["fa_minutes"],
        run_note=saved.get("note", ""),
    )
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"written to {DOC}")


if __name__ == "__main__":
    main()
