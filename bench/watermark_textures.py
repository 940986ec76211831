"""Render the textured test photos in tests/data/photos/textured/.

School photos are full of nearly periodic texture (checked uniforms, chain-link fences,
tiled walls, gym floors, grass, conifer hedges) that the blind reader's lattice search can
mistake for the tile grid of the mark. These six pictures are procedural renders, made to
look photographic (lens blur, shading, sensor noise, JPEG), with every period in a range
a 12 MP photo shows. They are made by this script alone (no outside material), so they carry
the project's own licence; tests/data/photos/textured/SOURCES.md lists them.

    .venv/bin/python bench/watermark_textures.py            # writes the six JPEGs
    .venv/bin/python bench/watermark_textures.py --size 4000x3000 --out /tmp/big

Deterministic: the same seed and size give the same pixels (numpy's PCG64 stream is not
promised stable forever, which matters not at all for test pictures that are committed).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "photos" / "textured"
F32 = npt.NDArray[np.float32]
Render = Callable[[int, int, np.random.Generator], F32]


def _noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> F32:
    """Smooth random field, unit deviation."""
    field = rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
    if sigma > 0:
        field = cv2.GaussianBlur(field, (0, 0), sigma)
    return (field / (float(field.std()) + 1e-9)).astype(np.float32)


def _warp(image: F32, rng: np.random.Generator, amount: float, sigma: float) -> F32:
    """A gentle smooth displacement: cloth folds, a slightly uneven wall, a lens."""
    h, w = image.shape[:2]
    small = (max(8, w // 16), max(8, h // 16))
    dx = cv2.resize(_noise(rng, small[1], small[0], sigma / 16), (w, h)) * amount
    dy = cv2.resize(_noise(rng, small[1], small[0], sigma / 16), (w, h)) * amount
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.asarray(
        cv2.remap(image, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
        np.float32,
    )


def _shading(rng: np.random.Generator, h: int, w: int, strength: float) -> F32:
    """Light falling off across the frame, with a soft vignette."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-1, 1, 2)
    ramp = 1.0 + strength * (gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2.0
    return (ramp * (1.0 - 0.25 * r2)).astype(np.float32)


def _camera(rgb: F32, rng: np.random.Generator, blur: float = 0.7, noise: float = 2.0) -> F32:
    """Lens softness and sensor noise (stronger in the dark, as shot noise is)."""
    out = cv2.GaussianBlur(rgb, (0, 0), blur)
    h, w = out.shape[:2]
    grain = rng.normal(0.0, 1.0, (h, w, 3)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.6) * 1.6
    level = noise * np.sqrt(np.clip(out, 4.0, 255.0) / 128.0)
    return np.asarray(np.clip(out + grain * level, 0, 255), np.float32)


def _tint(luma: F32, colour: tuple[float, float, float]) -> F32:
    return np.stack([luma * c for c in colour], axis=-1).astype(np.float32)


def gingham(h: int, w: int, rng: np.random.Generator) -> F32:
    """A checked school-uniform fabric: two-colour gingham, woven threads, folds."""
    period = 46.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    band_x = (np.mod(xx, period) < period / 2).astype(np.float32)
    band_y = (np.mod(yy, period) < period / 2).astype(np.float32)
    dark = (band_x + band_y) / 2.0  # 0 white, 0.5 mid, 1 dark
    weave = 0.5 + 0.5 * np.sin(2 * np.pi * xx / 3.1) * np.sin(2 * np.pi * yy / 3.1)
    base = 235.0 - 150.0 * dark
    luma = base * (0.9 + 0.1 * weave) + 6.0 * _noise(rng, h, w, 1.0)
    rgb = np.stack([luma * 0.55 + 90 * (1 - dark), luma * 0.7 + 40, luma], axis=-1)
    rgb = _warp(rgb.astype(np.float32), rng, 14.0, 300.0)
    folds = 1.0 + 0.18 * _noise(rng, h, w, 120.0)
    rgb = rgb * (folds * _shading(rng, h, w, 0.3))[..., None]
    return _camera(rgb, rng, 0.8, 2.5)


def chain_link(h: int, w: int, rng: np.random.Generator) -> F32:
    """A chain-link fence in front of a blurred playing field and trees."""
    back = 110.0 + 40.0 * _noise(rng, h, w, 40.0) + 15.0 * _noise(rng, h, w, 6.0)
    sky = np.clip(1.2 - np.arange(h, dtype=np.float32)[:, None] / (0.35 * h), 0.0, 1.0)
    back = back * (1 - sky) + 215.0 * sky
    rgb = np.stack([back * 0.7, back * 0.95 + 10, back * 0.6], axis=-1)
    rgb[..., 2] += sky * 30.0
    scale = 4
    canvas = np.zeros((h * scale // 4, w * scale // 4), np.uint8)
    ch, cw = canvas.shape
    pitch = 58
    for k in range(-ch // pitch - 2, (cw + ch) // pitch + 2):
        x0 = k * pitch
        for sign in (1, -1):
            start = (x0, 0) if sign > 0 else (x0, ch)
            end = (x0 + ch, ch) if sign > 0 else (x0 + ch, 0)
            cv2.line(canvas, start, end, 255, 3, cv2.LINE_AA)
    wire = _warp(canvas.astype(np.float32) / 255.0, rng, 3.0, 400.0)
    wire = cv2.resize(wire, (w, h))
    glint = 170.0 + 60.0 * _noise(rng, h, w, 3.0)
    rgb = rgb * (1 - wire[..., None]) + (glint * 0.95)[..., None] * wire[..., None]
    rgb = rgb * _shading(rng, h, w, 0.2)[..., None]
    return _camera(rgb.astype(np.float32), rng, 0.7, 2.0)


def tiled_wall(h: int, w: int, rng: np.random.Generator) -> F32:
    """Square ceramic wall tiles with grout, a little uneven, lit from one side."""
    tile = 104
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ix, iy = (xx // tile).astype(np.int64), (yy // tile).astype(np.int64)
    shades = rng.normal(0, 1, (h // tile + 2, w // tile + 2)).astype(np.float32)
    tint = 200.0 + 6.0 * shades[iy, ix]
    gx, gy = np.mod(xx, tile), np.mod(yy, tile)
    grout = np.minimum(np.minimum(gx, tile - gx), np.minimum(gy, tile - gy))
    edge = np.clip((grout - 2.0) / 2.5, 0.0, 1.0)
    bevel = 1.0 + 0.06 * np.clip((10.0 - grout) / 10.0, 0, 1) * np.sign(gx - gy)
    luma = tint * bevel * edge + 120.0 * (1 - edge)
    luma += 3.0 * _noise(rng, h, w, 2.0) + 4.0 * _noise(rng, h, w, 30.0)
    rgb = np.stack([luma * 0.92, luma * 0.97, luma], axis=-1)
    rgb = _warp(rgb, rng, 2.0, 500.0)
    rgb = rgb * _shading(rng, h, w, 0.5)[..., None]
    return _camera(rgb, rng, 0.6, 2.5)


def grass(h: int, w: int, rng: np.random.Generator) -> F32:
    """A school lawn seen from standing height: dense blades, finer towards the top."""
    canvas = np.full((h, w, 3), (40.0, 70.0, 25.0), np.float32)
    n = int(h * w / 90)
    ys = rng.uniform(-0.05 * h, 1.05 * h, n)
    order = np.argsort(ys)
    for i in order:
        y = float(ys[i])
        x = float(rng.uniform(0, w))
        depth = 0.35 + 0.65 * max(0.0, min(1.0, y / h))
        length = depth * rng.uniform(25, 70)
        lean = rng.normal(0, 0.35)
        bend = rng.normal(0, 0.25)
        pts = []
        for t in np.linspace(0, 1, 5):
            a = lean + bend * t
            pts.append((x + math.sin(a) * length * t, y - math.cos(a) * length * t))
        g = rng.uniform(70, 190) * (0.6 + 0.4 * depth)
        colour = (g * rng.uniform(0.45, 0.7), g, g * rng.uniform(0.2, 0.4))
        thick = max(1, round(depth * rng.uniform(1.5, 3.5)))
        cv2.polylines(
            canvas, [np.array(pts, np.int32).reshape(-1, 1, 2)], False, colour, thick, cv2.LINE_AA
        )
    canvas *= _shading(rng, h, w, 0.35)[..., None]
    return _camera(canvas, rng, 0.8, 2.5)


def gym_floor(h: int, w: int, rng: np.random.Generator) -> F32:
    """Varnished maple boards of a sports hall with staggered joints and a court line."""
    board = 62
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    row = (yy // board).astype(np.int64)
    offsets = rng.uniform(0, 900, h // board + 2).astype(np.float32)
    length = 900.0
    pos = xx + offsets[row]
    plank = (pos // length).astype(np.int64)
    plank_id = row * 1000 + plank
    tone = 175.0 + 14.0 * np.sin(plank_id * 12.9898).astype(np.float32)
    grain = _noise(rng, h // 4, w, 0.0)
    grain = cv2.GaussianBlur(grain, (0, 0), sigmaX=40.0, sigmaY=0.6)
    grain = cv2.resize(grain / (grain.std() + 1e-9), (w, h))
    luma = tone + 9.0 * grain + 3.0 * _noise(rng, h, w, 1.0)
    seam_y = np.minimum(np.mod(yy, board), board - np.mod(yy, board))
    seam_x = np.minimum(np.mod(pos, length), length - np.mod(pos, length))
    luma *= 1.0 - 0.35 * np.exp(-(seam_y**2) / 1.2) - 0.3 * np.exp(-(seam_x**2) / 1.2)
    rgb = np.stack([luma, luma * 0.78, luma * 0.5], axis=-1)
    line = np.abs(xx - 0.62 * w + 0.15 * yy) < 14
    rgb[line] = rgb[line] * 0.3 + np.array([200.0, 40.0, 35.0]) * 0.7
    gloss = np.exp(-(((xx - 0.3 * w) / (0.2 * w)) ** 2 + ((yy - 0.2 * h) / (0.5 * h)) ** 2))
    rgb = rgb * _shading(rng, h, w, 0.3)[..., None] + 45.0 * gloss[..., None]
    return _camera(rgb.astype(np.float32), rng, 0.7, 2.0)


def conifer(h: int, w: int, rng: np.random.Generator) -> F32:
    """Spruce twigs filling the frame: needles at a nearly fixed spacing along each twig."""
    canvas = np.full((h, w, 3), (18.0, 32.0, 20.0), np.float32)
    canvas += (12.0 * _noise(rng, h, w, 60.0))[..., None]
    twigs = int(h * w / 12000)
    spacing = 7.5
    for i in range(twigs):
        if i == twigs // 2:
            # The back half of the branches sits out of focus behind the front half.
            canvas = cv2.GaussianBlur(canvas, (0, 0), 2.5)
        x0, y0 = rng.uniform(-0.1 * w, 1.1 * w), rng.uniform(-0.1 * h, 1.1 * h)
        angle = rng.normal(-0.5, 0.25)
        length = rng.uniform(250, 600)
        dx, dy = math.cos(angle), math.sin(angle)
        needle = rng.uniform(26, 40)
        light = rng.uniform(0.6, 1.2)
        n = int(length / spacing)
        for k in range(n):
            t = k * spacing * (1 + rng.normal(0, 0.015))
            bx, by = x0 + dx * t, y0 + dy * t
            for side in (1, -1):
                a = angle + side * (0.95 + rng.normal(0, 0.06))
                ex = bx + math.cos(a) * needle
                ey = by + math.sin(a) * needle
                g = light * rng.uniform(80, 150)
                colour = (g * 0.45, g, g * 0.55)
                cv2.line(
                    canvas,
                    (round(bx * 4), round(by * 4)),
                    (round(ex * 4), round(ey * 4)),
                    colour,
                    2,
                    cv2.LINE_AA,
                    shift=2,
                )
        cv2.line(
            canvas,
            (round(x0), round(y0)),
            (round(x0 + dx * length), round(y0 + dy * length)),
            (60.0 * light, 50.0 * light, 30.0 * light),
            3,
            cv2.LINE_AA,
        )
    canvas *= _shading(rng, h, w, 0.4)[..., None]
    return _camera(canvas, rng, 0.75, 2.5)


PICTURES: dict[str, tuple[Render, int]] = {
    "gingham_uniform.jpg": (gingham, 11),
    "chain_link_fence.jpg": (chain_link, 12),
    "tiled_wall.jpg": (tiled_wall, 13),
    "grass_lawn.jpg": (grass, 14),
    "gym_floor.jpg": (gym_floor, 15),
    "conifer_needles.jpg": (conifer, 16),
}


def render(name: str, width: int, height: int) -> Image.Image:
    draw, seed = PICTURES[name]
    rgb = draw(height, width, np.random.default_rng(seed))
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="2400x1600", help="WIDTHxHEIGHT")
    parser.add_argument("--quality", type=int, default=85)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for name in PICTURES:
        image = render(name, width, height)
        path = args.out / name
        image.save(path, "JPEG", quality=args.quality, subsampling="4:2:0", optimize=True)
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
