"""Visual check of the watermark at 100 % zoom on flat areas (skin, sky).

For each photo, finds the flattest 384 x 384 window that is neither near black nor near
white (the place where a pattern would show first), or takes the window centred on a given
point, and writes one PNG: the photo saved as JPEG q92 | the marked photo saved as JPEG q92
| the difference amplified 16 times around mid-grey. Also writes a 3x nearest-neighbour
enlargement of the first two panels. Look at the PNGs at 100 %.

    .venv/bin/python bench/watermark_crops.py "mei_Nokia Lumia 800.jpg" \\
        "mei_Canon EOS 30D (4).jpg@0.5,0.4"

Output goes to bench/out/crops/ (not committed: the test photos show real people and stay
out of the docs).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.watermark import Watermarker  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "testdata" / "photos"
OUT = ROOT / "bench" / "out" / "crops"
KEY = bytes.fromhex("5eed" * 16)
PAYLOAD = 0x9E3779B9
SIDE = 384
ZOOM_SIDE = 192


def _jpeg(image: Image.Image, quality: int = 92) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _flattest(grey: np.ndarray) -> tuple[int, int]:
    """Top-left corner of the window with the least neighbour-to-neighbour change."""
    h, w = grey.shape
    best: tuple[float, int, int] | None = None
    for y in range(0, h - SIDE, SIDE // 2):
        for x in range(0, w - SIDE, SIDE // 2):
            win = grey[y : y + SIDE, x : x + SIDE]
            if not 40 <= win.mean() <= 230:
                continue
            texture = float(
                np.abs(np.diff(win, axis=0)).mean() + np.abs(np.diff(win, axis=1)).mean()
            )
            if best is None or texture < best[0]:
                best = (texture, x, y)
    if best is None:
        return max(0, (w - SIDE) // 2), max(0, (h - SIDE) // 2)
    return best[1], best[2]


def crop_check(spec: str, marker: Watermarker) -> str:
    name, _, where = spec.partition("@")
    _register_heif()
    source = ImageOps.exif_transpose(Image.open(PHOTOS / name)).convert("RGB")
    plain, marked = _jpeg(source), _jpeg(marker.embed(source, PAYLOAD))
    a = np.asarray(plain, dtype=np.float32)
    b = np.asarray(marked, dtype=np.float32)
    if where:
        fx, fy = (float(v) for v in where.split(","))
        x = min(max(0, int(fx * source.width) - SIDE // 2), source.width - SIDE)
        y = min(max(0, int(fy * source.height) - SIDE // 2), source.height - SIDE)
    else:
        x, y = _flattest(a.mean(axis=2))
    box = (x, y, x + SIDE, y + SIDE)
    diff = b[y : y + SIDE, x : x + SIDE] - a[y : y + SIDE, x : x + SIDE]
    panel = Image.new("RGB", (3 * SIDE + 20, SIDE), "white")
    panel.paste(plain.crop(box), (0, 0))
    panel.paste(marked.crop(box), (SIDE + 10, 0))
    panel.paste(
        Image.fromarray(np.clip(128 + 16 * diff, 0, 255).astype(np.uint8)), (2 * SIDE + 20, 0)
    )
    zoom_box = (x, y, x + ZOOM_SIDE, y + ZOOM_SIDE)
    big = 3 * ZOOM_SIDE
    zoom = Image.new("RGB", (2 * big + 10, big), "white")
    zoom.paste(plain.crop(zoom_box).resize((big, big), Image.Resampling.NEAREST), (0, 0))
    zoom.paste(marked.crop(zoom_box).resize((big, big), Image.Resampling.NEAREST), (big + 10, 0))
    stem = f"{Path(name).stem.replace(' ', '_')}_{x}_{y}"
    OUT.mkdir(parents=True, exist_ok=True)
    panel.save(OUT / f"{stem}.png")
    zoom.save(OUT / f"{stem}_zoom3x.png")
    rms = float(np.sqrt((diff**2).mean()))
    peak = float(np.abs(diff).max())
    return f"{name} window ({x}, {y}): difference RMS {rms:.2f}, max {peak:.0f} grey levels"


def _register_heif() -> None:
    try:
        import pillow_heif
    except ImportError:
        return
    pillow_heif.register_heif_opener()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    marker = Watermarker(KEY)
    for spec in sys.argv[1:]:
        print(crop_check(spec, marker), flush=True)
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
